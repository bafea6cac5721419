"""aiokafka (no flexible versions: ApiVersions 0, Metadata 5, Produce 7,
Fetch 11, JoinGroup 5, OffsetCommit/OffsetFetch 3): topics, produce and a
consumer group that commits and resumes."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def produce(bootstrap, topic, values):
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await p.start()
    try:
        return [await p.send_and_wait(topic, v, key=b"k", partition=0) for v in values]
    finally:
        await p.stop()


async def consume_group(bootstrap, topic, group, n):
    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await c.start()
    try:
        got = []
        async with asyncio.timeout(30):
            while len(got) < n:
                batches = await c.getmany(timeout_ms=500)
                for records in batches.values():
                    got.extend((r.offset, r.value) for r in records)
        await c.commit()
        return got
    finally:
        await c.stop()


async def scenario(bootstrap, topic):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        assert topic in await admin.list_topics()
    finally:
        await admin.close()
    metas = await produce(bootstrap, topic, [b"a%d" % i for i in range(5)])
    assert [m.offset for m in metas] == list(range(5))
    first = await consume_group(bootstrap, topic, "aio", 5)
    assert first == [(i, b"a%d" % i) for i in range(5)]
    await produce(bootstrap, topic, [b"b%d" % i for i in range(3)])
    # The group resumes after its committed offset.
    second = await consume_group(bootstrap, topic, "aio", 3)
    assert second == [(5 + i, b"b%d" % i) for i in range(3)]
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="aio")
    await c.start()
    try:
        tp = TopicPartition(topic, 0)
        assert await c.committed(tp) == 8
    finally:
        await c.stop()


def test_aiokafka_topics_produce_and_group_resume(broker, topic_name):
    asyncio.run(scenario(broker.bootstrap, topic_name))
