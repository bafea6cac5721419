"""Producing and consuming records with confluent-kafka and kafka-python:
byte-exact round trips, compression codecs, acks levels, idempotence."""

import os
import struct
import time

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

from helpers import (
    CODEC_IDS,
    RawClient,
    consume_n,
    create_topic,
    kp_consume_n,
    kstr,
    produce_ok,
    producer,
    record_batch,
    stored_batches,
)


def sample_records(n, partitions):
    """Records exercising binary keys/values, null key, null value, empty
    value, repeated and empty headers."""
    out = []
    for i in range(n):
        value = None if i % 11 == 5 else (b"" if i % 13 == 6 else os.urandom(1 + (i * 37) % 300))
        r = {
            "partition": i % partitions,
            # a null key only with a value (kafka-python refuses both null)
            "key": None if i % 7 == 3 and value is not None else b"key-%d-\x00\xff" % i,
            "value": value,
            "headers": [],
        }
        if i % 3 == 0:
            r["headers"] = [("trace", b"t-%d" % i), ("bin", bytes([i % 256, 0, 255])), ("trace", b"dup")]
        elif i % 3 == 1:
            r["headers"] = [("empty", b"")]
        out.append(r)
    return out


def headers_of(h):
    return [(k, v) for k, v in (h or [])]


def check_roundtrip(records, consumed, partitions, key, value, headers, partition, offset):
    """Every partition's records come back in produce order, byte-exact, at
    offsets 0..n-1."""
    assert len(consumed) == len(records)
    for p in range(partitions):
        sent = [r for r in records if r["partition"] == p]
        got = sorted([m for m in consumed if partition(m) == p], key=offset)
        assert [offset(m) for m in got] == list(range(len(sent))), f"partition {p} offsets"
        for r, m in zip(sent, got):
            assert key(m) == r["key"]
            assert value(m) == r["value"]
            assert headers(m) == r["headers"], f"headers at {p}/{offset(m)}"


def test_keys_values_headers_roundtrip(broker, topic_name):
    """confluent-kafka produces 300 records over 3 partitions; both
    confluent-kafka and kafka-python read them back byte-exact."""
    create_topic(broker, topic_name, partitions=3)
    records = sample_records(300, 3)
    reports = produce_ok(producer(broker), topic_name, records)
    for r, m in zip(records, reports):
        assert m.partition() == r["partition"]
    for p in range(3):
        offs = [m.offset() for m in reports if m.partition() == p]
        assert offs == list(range(len(offs))), f"delivery offsets of partition {p}"

    got = consume_n(broker, topic_name, 300, partitions=(0, 1, 2))
    check_roundtrip(
        records,
        got,
        3,
        key=lambda m: m.key(),
        value=lambda m: m.value(),
        headers=lambda m: headers_of(m.headers()),
        partition=lambda m: m.partition(),
        offset=lambda m: m.offset(),
    )
    for m in got:
        assert m.timestamp()[0] == TIMESTAMP_CREATE_TIME

    kgot = kp_consume_n(broker, topic_name, 300, partitions=(0, 1, 2))
    check_roundtrip(
        records,
        kgot,
        3,
        key=lambda m: m.key,
        value=lambda m: m.value,
        headers=lambda m: headers_of(m.headers),
        partition=lambda m: m.partition,
        offset=lambda m: m.offset,
    )


def test_kafka_python_producer_roundtrip(broker, topic_name):
    """kafka-python's producer (idempotent by default) with keys, headers
    and explicit partitions; read back by confluent-kafka, offsets contiguous."""
    from kafka import KafkaProducer

    create_topic(broker, topic_name, partitions=2)
    records = sample_records(100, 2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, request_timeout_ms=15000)
    try:
        futs = [
            p.send(topic_name, key=r["key"], value=r["value"], headers=r["headers"], partition=r["partition"])
            for r in records
        ]
        p.flush(30)
        metas = [f.get(timeout=30) for f in futs]
    finally:
        p.close(10)
    for p_ in range(2):
        offs = [m.offset for m in metas if m.partition == p_]
        assert offs == list(range(50)), f"kafka-python delivery offsets of partition {p_}"
    got = consume_n(broker, topic_name, 100, partitions=(0, 1))
    check_roundtrip(
        records,
        got,
        2,
        key=lambda m: m.key(),
        value=lambda m: m.value(),
        headers=lambda m: headers_of(m.headers()),
        partition=lambda m: m.partition(),
        offset=lambda m: m.offset(),
    )


CODECS = ["gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize(
    "codec",
    [
        "gzip",
        "snappy",
        "lz4",
        "zstd",
    ],
)
def test_compression_confluent_producer(shared_broker, topic_name, codec):
    """A confluent-kafka producer compressing with each codec; both clients
    decompress the stored batches back to the exact records."""
    broker = shared_broker
    create_topic(broker, topic_name)
    records = [
        {"key": b"k%d" % i, "value": (b"compressible %d " % i) * 40, "headers": [("i", str(i).encode())]}
        for i in range(500)
    ]
    reports = produce_ok(producer(broker, **{"compression.type": codec, "linger.ms": 50}), topic_name, records)
    assert [m.offset() for m in reports] == list(range(500))
    batches = stored_batches(broker, topic_name)
    assert batches, "no batch fetched"
    assert {b[1] for b in batches} == {CODEC_IDS[codec]}, (
        f"librdkafka stored batches with codec ids {sorted({b[1] for b in batches})}, not {codec}"
    )
    got = consume_n(broker, topic_name, 500)
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got] == [
        (i, r["key"], r["value"], r["headers"]) for i, r in enumerate(records)
    ]
    kgot = kp_consume_n(broker, topic_name, 500)
    assert [(m.offset, m.key, m.value, list(m.headers)) for m in kgot] == [
        (i, r["key"], r["value"], r["headers"]) for i, r in enumerate(records)
    ]


@pytest.mark.parametrize("codec", CODECS)
def test_compression_kafka_python_producer(shared_broker, topic_name, codec):
    """kafka-python compressing with each codec; the broker stores the batches
    compressed as produced; confluent-kafka and kafka-python read back."""
    from kafka import KafkaProducer

    broker = shared_broker
    create_topic(broker, topic_name)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, linger_ms=50)
    try:
        values = [(b"kp %s %d " % (codec.encode(), i)) * 30 for i in range(200)]
        futs = [p.send(topic_name, value=v, key=b"%d" % i) for i, v in enumerate(values)]
        p.flush(30)
        assert [f.get(30).offset for f in futs] == list(range(200))
    finally:
        p.close(10)
    batches = stored_batches(broker, topic_name)
    assert batches and {b[1] for b in batches} == {CODEC_IDS[codec]}
    got = consume_n(broker, topic_name, 200)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [(i, b"%d" % i, v) for i, v in enumerate(values)]
    kgot = kp_consume_n(broker, topic_name, 200)
    assert [(m.offset, m.key, m.value) for m in kgot] == [(i, b"%d" % i, v) for i, v in enumerate(values)]


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks_levels_deliver(shared_broker, topic_name, acks):
    """acks=0, 1 and all all deliver every record, in order."""
    broker = shared_broker
    create_topic(broker, topic_name)
    values = [b"acks-%s-%d" % (acks.encode(), i) for i in range(200)]
    reports = produce_ok(producer(broker, acks=acks), topic_name, [{"value": v} for v in values])
    if acks != "0":
        assert [m.offset() for m in reports] == list(range(200))
    got = consume_n(broker, topic_name, 200, timeout=30)
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == list(range(200))


def test_kafka_python_acks_levels(shared_broker, topic_name):
    from kafka import KafkaProducer

    broker = shared_broker
    create_topic(broker, topic_name)
    expected = []
    for acks in (0, 1, "all"):
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=acks, enable_idempotence=False)
        try:
            vs = [b"kp-acks-%s-%d" % (str(acks).encode(), i) for i in range(50)]
            futs = [p.send(topic_name, value=v) for v in vs]
            p.flush(30)
            for f in futs:
                f.get(30)
            expected += vs
        finally:
            p.close(10)
    got = consume_n(broker, topic_name, 150)
    assert [m.value() for m in got] == expected


def test_idempotent_producer_exactly_once(broker, topic_name):
    """confluent-kafka with enable.idempotence=true: 2000 records over 2
    partitions, each stored once, offsets contiguous."""
    create_topic(broker, topic_name, partitions=2)
    p = producer(broker, **{"enable.idempotence": True, "linger.ms": 2, "batch.num.messages": 50})
    records = [{"partition": i % 2, "value": b"idem-%d" % i} for i in range(2000)]
    reports = produce_ok(p, topic_name, records)
    for part in (0, 1):
        assert [m.offset() for m in reports if m.partition() == part] == list(range(1000))
    got = consume_n(broker, topic_name, 2000, partitions=(0, 1))
    for part in (0, 1):
        vals = [m.value() for m in sorted(got, key=lambda m: m.offset()) if m.partition() == part]
        assert vals == [r["value"] for r in records if r["partition"] == part]


def test_find_coordinator_names_this_broker_for_groups_and_transactional_ids(broker):
    """The raw FindCoordinator answer (v1): key type 0 (group) and 1
    (transactional id) both name this broker; an unknown key type is
    INVALID_REQUEST."""
    raw = RawClient(broker)
    try:
        for key_type in (0, 1):
            resp = raw.request(10, 1, kstr("x") + struct.pack(">b", key_type))
            _throttle, code = struct.unpack(">ih", resp[:6])
            assert code == 0, key_type
        resp = raw.request(10, 1, kstr("x") + struct.pack(">b", 7))
        assert struct.unpack(">h", resp[4:6])[0] == 42  # INVALID_REQUEST
    finally:
        raw.close()


def test_idempotent_duplicate_batch_stored_once(broker, topic_name):
    """The broker side of idempotence, on the wire: the same batch
    (producer id, epoch, sequence 0) sent twice is stored once and the retry
    is answered with the original offset; a sequence gap is refused with
    OUT_OF_ORDER_SEQUENCE_NUMBER (45)."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    try:
        err, pid, epoch = c.init_producer_id()
        assert err == 0 and pid >= 0 and epoch >= 0
        batch = record_batch(
            [(b"k", b"once", []), (b"k", b"twice?", [])], producer_id=pid, producer_epoch=epoch, base_sequence=0
        )
        assert c.produce(topic_name, 0, batch) == (0, 0)
        err, base = c.produce(topic_name, 0, batch)
        assert c.high_watermark(topic_name, 0) == 2, "the retried batch was stored twice"
        assert (err, base) == (0, 0), f"duplicate answered with error {err}, base offset {base}"
        gap = record_batch([(b"k", b"gap", [])], producer_id=pid, producer_epoch=epoch, base_sequence=5)
        err, _ = c.produce(topic_name, 0, gap)
        assert err == 45, f"sequence gap answered with error {err}"
        nxt = record_batch([(b"k", b"next", [])], producer_id=pid, producer_epoch=epoch, base_sequence=2)
        assert c.produce(topic_name, 0, nxt) == (0, 2)
        assert c.high_watermark(topic_name, 0) == 3
    finally:
        c.close()
    got = consume_n(broker, topic_name, 3)
    assert [m.value() for m in got] == [b"once", b"twice?", b"next"]


def test_log_append_time_topic(broker, topic_name):
    """message.timestamp.type=LogAppendTime: consumers see the broker's append
    time (type LOG_APPEND_TIME), not the producer's timestamp."""
    create_topic(broker, topic_name, config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    reports = produce_ok(
        producer(broker), topic_name, [{"value": b"v%d" % i, "timestamp": 1_000_000 + i} for i in range(3)]
    )
    after = int(time.time() * 1000)
    # The produce response carries the append time (log_append_time_ms).
    for r in reports:
        ttype, ts = r.timestamp()
        assert ttype == TIMESTAMP_LOG_APPEND_TIME and before - 1000 <= ts <= after + 1000, r.timestamp()
    got = consume_n(broker, topic_name, 3)
    for m in got:
        ttype, ts = m.timestamp()
        assert ttype == TIMESTAMP_LOG_APPEND_TIME, f"timestamp type {ttype}"
        assert before - 1000 <= ts <= after + 1000, f"timestamp {ts} not within [{before}, {after}]"
    kgot = kp_consume_n(broker, topic_name, 3)
    for m in kgot:
        assert m.timestamp_type == 1 and before - 1000 <= m.timestamp <= after + 1000
