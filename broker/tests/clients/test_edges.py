"""Edge cases a client runs into: fetching inside a batch, fetch size
limits, out-of-range offsets, topic name and config validation, topic ids,
broker configs, state surviving restarts."""

import struct

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic

from helpers import RawClient, admin, consume_n, create_topic, kp_consume_n, produce_ok, producer, record_batch

OFFSET_OUT_OF_RANGE = 1
INVALID_REQUIRED_ACKS = 21


def test_consume_from_the_middle_of_a_batch(broker, topic_name):
    """Ten records in one batch; assigning at offset 6 yields exactly 6..9
    (both clients), though the broker serves the whole batch."""
    create_topic(broker, topic_name)
    p = producer(broker, **{"linger.ms": 500})
    produce_ok(p, topic_name, [{"value": b"mid-%d" % i} for i in range(10)])
    got = consume_n(broker, topic_name, 4, offset=6)
    assert [(m.offset(), m.value()) for m in got] == [(i, b"mid-%d" % i) for i in range(6, 10)]

    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, consumer_timeout_ms=1000)
    try:
        tp = KTP(topic_name, 0)
        kc.assign([tp])
        kc.seek(tp, 6)
        recs = []
        for _ in range(10):
            for rs in kc.poll(timeout_ms=500).values():
                recs.extend(rs)
            if len(recs) >= 4:
                break
        assert [(r.offset, r.value) for r in recs] == [(i, b"mid-%d" % i) for i in range(6, 10)]
    finally:
        kc.close()


def test_fetch_returns_a_batch_larger_than_max_bytes(broker, topic_name):
    """KIP-74: a batch larger than the fetch's max bytes still comes back
    whole (so a consumer with small fetch limits makes progress)."""
    create_topic(broker, topic_name)
    big = b"B" * 200_000
    produce_ok(producer(broker), topic_name, [{"value": big}, {"value": b"after"}])
    c = RawClient(broker)
    try:
        body = (
            struct.pack(">iiiib", -1, 100, 1, 1000, 0)
            + struct.pack(">i", 1)
            + struct.pack(">h", len(topic_name))
            + topic_name.encode()
            + struct.pack(">i", 1)
            + struct.pack(">iqi", 0, 0, 1000)
        )
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, body))
        assert err == 0 and hwm == 2
        assert len(recs) > 200_000, f"fetch with max bytes 1000 returned {len(recs)} bytes"
    finally:
        c.close()
    got = consume_n(
        broker,
        topic_name,
        2,
        **{
            "fetch.max.bytes": 1000,
            "message.max.bytes": 1000,
            "max.partition.fetch.bytes": 1000,
            "receive.message.max.bytes": 300_000,
        },
    )
    assert [m.value() for m in got] == [big, b"after"]


def test_fetch_out_of_range(broker, topic_name):
    """Fetch past the end answers OFFSET_OUT_OF_RANGE; a confluent consumer
    assigned there with auto.offset.reset=earliest starts over at 0."""
    create_topic(broker, topic_name)
    produce_ok(producer(broker), topic_name, [{"value": b"r%d" % i} for i in range(3)])
    c = RawClient(broker)
    try:
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic_name, 0, 50, 100)))
        assert err == OFFSET_OUT_OF_RANGE and recs == b""
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic_name, 0, -5, 100)))
        assert err == OFFSET_OUT_OF_RANGE
        # Fetching exactly at the high watermark is not out of range.
        err, hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic_name, 0, 3, 100)))
        assert (err, hwm, recs) == (0, 3, b"")
    finally:
        c.close()
    got = consume_n(broker, topic_name, 3, offset=50, **{"auto.offset.reset": "earliest"})
    assert [m.offset() for m in got] == [0, 1, 2]


def test_invalid_acks_refused(broker, topic_name):
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        err, _ = c.produce(topic_name, 0, record_batch([(None, b"x", [])]), acks=2)
        assert err == INVALID_REQUIRED_ACKS
        assert c.high_watermark(topic_name, 0) == 0
    finally:
        c.close()


@pytest.mark.parametrize("name", ["has space", "slash/name", "..", "x" * 250, ""])
def test_invalid_topic_names_refused(shared_broker, name):
    """Names Kafka refuses (illegal characters, '..', more than 249 chars,
    empty) fail with INVALID_TOPIC_EXCEPTION and create nothing."""
    a = admin(shared_broker)
    try:
        fut = a.create_topics([NewTopic(name, 1, 1)], request_timeout=10)[name]
    except (ValueError, KafkaException) as e:  # refused client-side
        pytest.fail(f"client refused {name!r} before asking the broker: {e}")
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=15)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, e.value
    assert name not in a.list_topics(timeout=10).topics


def test_unknown_and_malformed_configs_refused(broker, topic_name):
    """CreateTopics with an unknown config name or a value of the wrong type
    is refused with INVALID_CONFIG; nothing is created."""
    a = admin(broker)
    cases = {
        "-unknown": {"no.such.config": "1"},
        "-ts-type": {"message.timestamp.type": "WallClock"},
        "-neg-size": {"max.message.bytes": "-5"},
    }
    for suffix, cfg in cases.items():
        name = topic_name + suffix
        fut = a.create_topics([NewTopic(name, 1, 1, config=cfg)], request_timeout=10)[name]
        with pytest.raises(KafkaException) as e:
            fut.result(timeout=15)
        assert e.value.args[0].code() == KafkaError.INVALID_CONFIG, f"{cfg}: {e.value}"
    topics = a.list_topics(timeout=10).topics
    assert not [n for n in topics if n.startswith(topic_name)]


def test_describe_topics_with_topic_id(broker, topic_name):
    """AdminClient.describe_topics (Metadata v12): partitions, leader, and a
    non-zero topic id that stays the same across a restart."""
    create_topic(broker, topic_name, partitions=2)

    def describe():
        a = admin(broker)
        return a.describe_topics(TopicCollection([topic_name]), request_timeout=10)[topic_name].result(timeout=15)

    d = describe()
    assert d.name == topic_name
    assert [p.id for p in d.partitions] == [0, 1]
    assert all(p.leader.id == 0 for p in d.partitions)
    tid = str(d.topic_id)
    assert tid and tid != "AAAAAAAAAAAAAAAAAAAAAA", f"topic id {tid}"
    broker.restart()
    assert str(describe().topic_id) == tid, "topic id changed across a restart"


def test_describe_broker_configs(broker):
    a = admin(broker)
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = a.describe_configs([res], request_timeout=10)[res].result(timeout=15)
    assert isinstance(configs, dict)


def test_admin_changes_survive_restart(broker, topic_name):
    """CreatePartitions, IncrementalAlterConfigs and DeleteTopics done before
    a SIGTERM restart are all still in effect after it; kafka-python reads the
    records of every partition."""
    a = admin(broker)
    gone = topic_name + "-gone"
    create_topic(broker, topic_name, partitions=1)
    create_topic(broker, gone)
    a.create_partitions([NewPartitions(topic_name, 3)], request_timeout=10)[topic_name].result(timeout=15)
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("retention.bytes", "777777", incremental_operation=AlterConfigOpType.SET)],
    )
    a.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    a.delete_topics([gone], request_timeout=10)[gone].result(timeout=15)
    produce_ok(producer(broker), topic_name, [{"partition": i % 3, "value": b"p%d" % i} for i in range(9)])

    broker.restart()

    a = admin(broker)
    md = a.list_topics(timeout=10)
    assert len(md.topics[topic_name].partitions) == 3
    assert gone not in md.topics
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    cfg = a.describe_configs([res], request_timeout=10)[res].result(timeout=15)
    assert cfg["retention.bytes"].value == "777777"
    got = kp_consume_n(broker, topic_name, 9, partitions=(0, 1, 2))
    assert sorted(r.value for r in got) == sorted(b"p%d" % i for i in range(9))
