"""Where a consumer starts: earliest, latest, by timestamp (ListOffsets),
and ListOffsets' max timestamp."""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, TopicPartition
from confluent_kafka.admin import OffsetSpec

from helpers import (
    CODEC_IDS,
    RawClient,
    admin,
    consume_n,
    consumer,
    create_topic,
    produce_ok,
    producer,
    stored_batches,
)

BASE_TS = 1_700_000_000_000  # 2023-11-14, fixed producer timestamps


def wait_eof(c, expected, timeout=15):
    """Polls until the consumer reports end of partition at offset expected
    (enable.partition.eof), which proves its position is resolved."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        assert m.error(), f"record at offset {m.offset()} before any new produce"
        if m.error().code() == KafkaError._PARTITION_EOF:
            assert m.offset() == expected, f"end of partition at {m.offset()}, expected {expected}"
            return
        raise AssertionError(f"consumer error {m.error()}")
    raise AssertionError(f"no end-of-partition event within {timeout}s")


def produce_one_batch(broker, topic, records, codec="none", client="confluent"):
    """All records in one batch (one linger window, one flush), by
    confluent-kafka or kafka-python (the only one of the two that sends lz4
    to Skiff, and that frames snappy the xerial way); returns the offsets."""
    if client == "confluent":
        p = producer(broker, **{"linger.ms": 1000, "batch.num.messages": 10000, "compression.type": codec})
        return [m.offset() for m in produce_ok(p, topic, records)]
    from kafka import KafkaProducer

    kp = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        linger_ms=1000,
        batch_size=1 << 20,
        compression_type=None if codec == "none" else codec,
    )
    try:
        futs = [kp.send(topic, value=r["value"], timestamp_ms=r["timestamp"], partition=0) for r in records]
        kp.flush(30)
        return [f.get(30).offset for f in futs]
    finally:
        kp.close(10)


# (client, codec) pairs that put every codec and both snappy framings into
# one stored batch.
ONE_BATCH_CASES = [
    ("confluent", "none"),
    ("confluent", "gzip"),
    ("confluent", "snappy"),
    ("confluent", "zstd"),
    ("kafka-python", "lz4"),
    ("kafka-python", "snappy"),
]


def test_earliest_and_latest(broker, topic_name):
    """assign at OFFSET_BEGINNING sees everything; at OFFSET_END only records
    produced after the position was resolved (confluent and kafka-python)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    create_topic(broker, topic_name)
    p = producer(broker)
    produce_ok(p, topic_name, [{"value": b"old-%d" % i} for i in range(5)])

    got = consume_n(broker, topic_name, 5, offset=OFFSET_BEGINNING)
    assert [m.value() for m in got] == [b"old-%d" % i for i in range(5)]

    tp = TopicPartition(topic_name, 0, OFFSET_END)
    c = consumer(broker, **{"enable.partition.eof": True})
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        c.assign([tp])
        wait_eof(c, 5)
        ktp = KTP(topic_name, 0)
        kc.assign([ktp])
        kc.seek_to_end(ktp)
        assert kc.position(ktp) == 5

        produce_ok(p, topic_name, [{"value": b"new-%d" % i} for i in range(3)])
        got = []
        deadline = time.monotonic() + 15
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
            elif m is not None:
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
        assert [(m.offset(), m.value()) for m in got] == [(5 + i, b"new-%d" % i) for i in range(3)]

        kgot = []
        deadline = time.monotonic() + 15
        while len(kgot) < 3 and time.monotonic() < deadline:
            for recs in kc.poll(timeout_ms=500).values():
                kgot.extend(recs)
        assert [(m.offset, m.value) for m in kgot] == [(5 + i, b"new-%d" % i) for i in range(3)]
    finally:
        c.close()
        kc.close()


def test_offsets_for_times_across_batches(broker, topic_name):
    """Records produced one batch each with explicit timestamps 1 s apart:
    offsets_for_times finds the first record at or after the time."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    create_topic(broker, topic_name)
    p = producer(broker, **{"linger.ms": 0})
    for i in range(10):
        produce_ok(p, topic_name, [{"value": b"ts-%d" % i, "timestamp": BASE_TS + i * 1000}])

    c = consumer(broker)
    try:

        def lookup(ts):
            (r,) = c.offsets_for_times([TopicPartition(topic_name, 0, ts)], timeout=10)
            assert r.error is None, r.error
            return r.offset

        assert lookup(BASE_TS - 5000) == 0
        assert lookup(BASE_TS) == 0
        assert lookup(BASE_TS + 4000) == 4
        assert lookup(BASE_TS + 4500) == 5
        assert lookup(BASE_TS + 9000) == 9
        assert lookup(BASE_TS + 9001) == OFFSET_END  # -1: no such record

        c.assign([TopicPartition(topic_name, 0, lookup(BASE_TS + 6000))])
        got = []
        deadline = time.monotonic() + 15
        while len(got) < 4 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
        assert [(m.offset(), m.value(), m.timestamp()[1]) for m in got] == [
            (i, b"ts-%d" % i, BASE_TS + i * 1000) for i in range(6, 10)
        ]
    finally:
        c.close()

    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    try:
        ktp = KTP(topic_name, 0)
        res = kc.offsets_for_times({ktp: BASE_TS + 2500})
        assert res[ktp].offset == 3 and res[ktp].timestamp == BASE_TS + 3000
        assert kc.offsets_for_times({ktp: BASE_TS + 20000})[ktp] is None
        assert kc.beginning_offsets([ktp])[ktp] == 0
        assert kc.end_offsets([ktp])[ktp] == 10
    finally:
        kc.close()


@pytest.mark.parametrize("client,codec", ONE_BATCH_CASES)
def test_offsets_for_times_inside_one_batch(broker, topic_name, client, codec):
    """Ten records in ONE batch (uncompressed, and each codec) with
    timestamps 1 s apart: a timestamp lookup must land on the record, not on
    the batch's first offset (Kafka finds the first record with timestamp >=
    target, decompressing if it must)."""
    create_topic(broker, topic_name)
    offsets = produce_one_batch(
        broker,
        topic_name,
        [{"value": b"b-%d " % i * 100, "timestamp": BASE_TS + i * 1000} for i in range(10)],
        codec,
        client,
    )
    assert offsets == list(range(10))
    assert stored_batches(broker, topic_name) == [(0, CODEC_IDS[codec], 10)], "not one batch of the codec"
    c = consumer(broker)
    try:
        (r,) = c.offsets_for_times([TopicPartition(topic_name, 0, BASE_TS + 5000)], timeout=10)
        assert r.error is None
        assert r.offset == 5, f"offsets_for_times(ts of record 5) returned offset {r.offset}"
        (r,) = c.offsets_for_times([TopicPartition(topic_name, 0, BASE_TS + 8500)], timeout=10)
        assert r.offset == 9, f"offsets_for_times(between records 8 and 9) returned offset {r.offset}"
    finally:
        c.close()


def list_offsets(a, topic, spec):
    tp = TopicPartition(topic, 0)
    return a.list_offsets({tp: spec}, request_timeout=10)[tp].result(timeout=15)


def test_list_offsets_max_timestamp(broker, topic_name):
    """AdminClient.list_offsets: earliest, latest, and max timestamp (-3),
    which names the record with the largest timestamp, not the last one."""
    a = admin(broker)
    create_topic(broker, topic_name)
    p = producer(broker, **{"linger.ms": 0})
    for i, ts in enumerate([3000, 9000, 5000, 1000]):
        produce_ok(p, topic_name, [{"value": b"m-%d" % i, "timestamp": BASE_TS + ts}])
    assert list_offsets(a, topic_name, OffsetSpec.earliest()).offset == 0
    assert list_offsets(a, topic_name, OffsetSpec.latest()).offset == 4
    mx = list_offsets(a, topic_name, OffsetSpec.max_timestamp())
    assert (mx.offset, mx.timestamp) == (1, BASE_TS + 9000)
    ts = list_offsets(a, topic_name, OffsetSpec.for_timestamp(BASE_TS + 4000))
    assert (ts.offset, ts.timestamp) == (1, BASE_TS + 9000)


@pytest.mark.parametrize("client,codec", ONE_BATCH_CASES)
def test_list_offsets_max_timestamp_inside_one_batch(broker, topic_name, client, codec):
    """Max timestamp where the largest timestamp is in the middle of one
    batch (uncompressed, and each codec): Kafka (KIP-734, KAFKA-16310)
    answers that record's offset."""
    a = admin(broker)
    create_topic(broker, topic_name)
    produce_one_batch(
        broker,
        topic_name,
        [{"value": b"x-%d " % i * 100, "timestamp": BASE_TS + ts} for i, ts in enumerate([1000, 7000, 2000, 3000])],
        codec,
        client,
    )
    assert stored_batches(broker, topic_name) == [(0, CODEC_IDS[codec], 4)], "not one batch of the codec"
    mx = list_offsets(a, topic_name, OffsetSpec.max_timestamp())
    assert (mx.offset, mx.timestamp) == (1, BASE_TS + 7000), f"got offset {mx.offset} ts {mx.timestamp}"


def test_list_offsets_empty_and_unknown(broker, topic_name):
    a = admin(broker)
    create_topic(broker, topic_name)
    assert list_offsets(a, topic_name, OffsetSpec.earliest()).offset == 0
    assert list_offsets(a, topic_name, OffsetSpec.latest()).offset == 0
    assert list_offsets(a, topic_name, OffsetSpec.max_timestamp()).offset == -1
    # A partition that does not exist: UNKNOWN_TOPIC_OR_PARTITION (3) on the
    # wire (librdkafka refuses it locally, so ask directly).
    c = RawClient(broker)
    try:
        assert c.list_offset(topic_name, 7, -1)[0] == 3
        assert c.list_offset(topic_name + "-missing", 0, -1)[0] == 3
    finally:
        c.close()
