"""Retention and DeleteRecords through real clients: old records go away
from the head, the log start moves, and consumers that asked for an offset
below it are reset by their auto.offset.reset policy."""

import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import Broker
from helpers import admin, consumer, create_topic, produce_ok, producer


def log_start(broker, topic, partition=0):
    c = consumer(broker)
    try:
        low, _high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        return low
    finally:
        c.close()


def test_delete_records_moves_the_log_start_and_resets_consumers(broker, topic_name):
    create_topic(broker, topic_name)
    produce_ok(producer(broker), topic_name, [{"value": b"r%d" % i} for i in range(10)], partition=0)
    a: AdminClient = admin(broker)
    futs = a.delete_records([TopicPartition(topic_name, 0, 6)])
    result = futs[TopicPartition(topic_name, 0, 6)].result(timeout=10)
    assert result.low_watermark == 6
    assert log_start(broker, topic_name) == 6
    # A consumer asking for offset 2 is out of range and resets to earliest.
    c = consumer(broker, **{"auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic_name, 0, 2)])
    got = []
    deadline = time.monotonic() + 15
    while len(got) < 4 and time.monotonic() < deadline:
        for m in c.consume(10, timeout=1):
            assert not m.error(), m.error()
            got.append((m.offset(), m.value()))
    c.close()
    assert got == [(i, b"r%d" % i) for i in range(6, 10)]


def test_retention_ms_removes_old_records_in_the_background(tmp_path):
    b = Broker(tmp_path, env={"SKIFF_RETENTION_CHECK_INTERVAL_MS": "1000"})
    b.start()
    try:
        create_topic(b, "short", config={"retention.ms": "60000"})
        create_topic(b, "long", config={"retention.ms": "-1"})
        old = int(time.time() * 1000) - 3_600_000  # an hour ago
        for topic in ("short", "long"):
            produce_ok(producer(b), topic, [{"value": b"old", "timestamp": old}], partition=0)
            produce_ok(producer(b), topic, [{"value": b"new"}], partition=0)
        deadline = time.monotonic() + 15
        while log_start(b, "short") == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert log_start(b, "short") == 1, "the hour-old record is past retention.ms=60000"
        assert log_start(b, "long") == 0, "retention.ms=-1 keeps everything"
    finally:
        b.stop()
