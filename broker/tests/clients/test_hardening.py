"""Attacks on the broker's resource limits, against the real binary: each
test sends the worst case a client controls and asserts what users see: the
precise error code, the broker still up with its RSS bounded, other clients
still served, nothing acknowledged lost."""

import struct
import threading
import time

from conftest import Broker
from helpers import RawClient, create_topic, kstr, record_batch, rss_kib, stored_batches

POLICY_VIOLATION = 44
INVALID_RECORD = 87
NONE = 0



def create_topics(client, topics, validate_only=False):
    """CreateTopics v2: [(name, partitions)] -> {name: (error, message)}."""
    body = struct.pack(">i", len(topics))
    for name, partitions in topics:
        body += kstr(name) + struct.pack(">ihii", partitions, -1, 0, 0)
    body += struct.pack(">ib", 30000, 1 if validate_only else 0)
    resp = client.request(19, 2, body)
    return parse_topic_errors(resp)


def create_partitions(client, name, count):
    """CreatePartitions v1 for one topic: (error, message)."""
    body = struct.pack(">i", 1) + kstr(name) + struct.pack(">ii", count, -1) + struct.pack(">ib", 30000, 0)
    return parse_topic_errors(client.request(37, 1, body))[name]


def parse_topic_errors(resp):
    """throttle, [name, error, message] (CreateTopics v2, CreatePartitions v1)."""
    pos = 4
    (n,) = struct.unpack(">i", resp[pos : pos + 4])
    pos += 4
    out = {}
    for _ in range(n):
        (nl,) = struct.unpack(">h", resp[pos : pos + 2])
        name = resp[pos + 2 : pos + 2 + nl].decode()
        pos += 2 + nl
        err, ml = struct.unpack(">hh", resp[pos : pos + 4])
        pos += 4
        message = None
        if ml >= 0:
            message = resp[pos : pos + ml].decode()
            pos += ml
        out[name] = (err, message)
    return out


def produce_answered(broker, topic):
    """Another client's acks=all produce is answered with no error."""
    c = RawClient(broker)
    try:
        err, _base = c.produce(topic, 0, record_batch([(None, b"still here", [])]))
        return err == NONE
    finally:
        c.close()


def test_absurd_partition_counts_are_refused_before_the_writer(broker, topic_name):
    """2147483647 partitions used to abort the process (a 16 GiB Vec) and a
    million blocked the writer for seconds (+277 MB RSS): both are now
    refused with POLICY_VIOLATION naming SKIFF_MAX_PARTITIONS, RSS grows by
    less than 16 MiB, and other clients' produces are answered."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    before = rss_kib(broker)
    for count in (2147483647, 1_000_000, 10_001):
        res = create_topics(c, [(f"{topic_name}-big", count)])
        err, message = res[f"{topic_name}-big"]
        assert err == POLICY_VIOLATION, res
        assert "SKIFF_MAX_PARTITIONS" in message and "--max-partitions" in message, message
        err, message = create_partitions(c, topic_name, count)
        assert err == POLICY_VIOLATION, (err, message)
        assert "SKIFF_MAX_PARTITIONS" in message, message
    assert broker.proc.poll() is None
    assert produce_answered(broker, topic_name)
    grown = rss_kib(broker) - before
    assert grown < 16 * 1024, f"RSS grew by {grown} KiB"
    # Exactly the limit is accepted (10,000 by default, 1 already taken).
    res = create_topics(c, [(f"{topic_name}-most", 9_999)])
    assert res[f"{topic_name}-most"][0] == NONE, res
    assert produce_answered(broker, topic_name)
    # One refusal line per limit per 10 s, naming the limit and the client.
    log = broker.log_path().read_text()
    lines = [line for line in log.splitlines() if "SKIFF_MAX_PARTITIONS" in line and "WARN" in line]
    assert len(lines) == 1, lines
    assert "127.0.0.1:" in lines[0], lines[0]
    c.close()


def test_partition_limit_counts_every_topic_and_auto_creation(tmp_path, topic_name):
    b = Broker(tmp_path, env={"SKIFF_MAX_PARTITIONS": "10"})
    b.start()
    try:
        c = RawClient(b)
        # Within one request the earlier topics count.
        res = create_topics(c, [(f"{topic_name}-a", 6), (f"{topic_name}-b", 5), (f"{topic_name}-c", 4)])
        assert res[f"{topic_name}-a"][0] == NONE, res
        assert res[f"{topic_name}-b"][0] == POLICY_VIOLATION, res
        assert res[f"{topic_name}-c"][0] == NONE, res
        # validate_only counts too, without creating anything.
        res = create_topics(c, [(f"{topic_name}-d", 1)], validate_only=True)
        assert res[f"{topic_name}-d"][0] == POLICY_VIOLATION, res
        err, _ = create_partitions(c, f"{topic_name}-a", 7)
        assert err == POLICY_VIOLATION
        # Auto-creation (Metadata of an unknown topic) is refused the same way.
        meta = c.metadata_topics([f"{topic_name}-auto"])
        assert meta[f"{topic_name}-auto"][0] == POLICY_VIOLATION, meta
        # The limit holds across a restart (counted from the file).
        c.close()
        b.restart()
        c = RawClient(b)
        res = create_topics(c, [(f"{topic_name}-e", 1)])
        assert res[f"{topic_name}-e"][0] == POLICY_VIOLATION, res
        c.close()
    finally:
        b.cleanup()


def test_creating_many_partitions_does_not_stall_other_producers(broker, topic_name):
    """While 9,999 partitions are created, another client's produces keep
    being answered; prints the longest produce round trip seen."""
    create_topic(broker, topic_name)
    stop = threading.Event()
    worst = [0.0]
    errors = []

    def produce_loop():
        c = RawClient(broker)
        try:
            while not stop.is_set():
                t0 = time.monotonic()
                err, _ = c.produce(topic_name, 0, record_batch([(None, b"x", [])]))
                worst[0] = max(worst[0], time.monotonic() - t0)
                if err != NONE:
                    errors.append(err)
        finally:
            c.close()

    t = threading.Thread(target=produce_loop)
    t.start()
    time.sleep(1.0)
    baseline = worst[0]
    worst[0] = 0.0
    c = RawClient(broker)
    t0 = time.monotonic()
    res = create_topics(c, [(f"{topic_name}-wide", 9_999)])
    took = time.monotonic() - t0
    time.sleep(0.2)
    stop.set()
    t.join()
    c.close()
    assert res[f"{topic_name}-wide"][0] == NONE, res
    assert errors == []
    print(
        f"9,999 partitions created in {took * 1000:.0f} ms; worst produce round trip "
        f"{baseline * 1000:.0f} ms in the second before, {worst[0] * 1000:.0f} ms during and after"
    )


MAX_PARTITION_ID = (1 << 23) - 1  # the largest id whose batch keys (id << 40 | offset) stay positive


def test_partition_ids_never_leave_the_batch_key_space(broker, topic_name):
    """Batch row ids are partition_id << 40 | offset: ids past 2^23-1 would
    overflow (and from 2^24 alias other partitions' batches). A database
    whose highest partition id is at the boundary (as after millions of
    topics created and deleted) gets new partitions from the free ids below
    it, and every partition keeps its own records."""
    import sqlite3

    low = f"{topic_name}-low"
    create_topic(broker, low)
    broker.stop()
    db = sqlite3.connect(broker.db_path)
    db.execute("INSERT INTO topics (name, uuid, created_ms) VALUES (?, randomblob(16), 0)", (f"{topic_name}-edge",))
    (topic_id,) = db.execute("SELECT id FROM topics WHERE name = ?", (f"{topic_name}-edge",)).fetchone()
    db.execute(
        "INSERT INTO partitions (id, topic_id, idx, log_start) VALUES (?, ?, 0, 0)",
        (MAX_PARTITION_ID, topic_id),
    )
    db.commit()
    db.close()
    broker.start()
    c = RawClient(broker)
    after = f"{topic_name}-after"
    assert create_topics(c, [(after, 2)])[after][0] == NONE
    counts = {(low, 0): 1, (f"{topic_name}-edge", 0): 2, (after, 0): 3, (after, 1): 4}
    for (topic, partition), n in counts.items():
        err, base = c.produce(topic, partition, record_batch([(None, b"v", [])] * n))
        assert (err, base) == (NONE, 0), (topic, partition, err, base)
    for (topic, partition), n in counts.items():
        assert stored_batches(broker, topic, partition) == [(0, 0, n)], (topic, partition)
        assert c.high_watermark(topic, partition) == n
    c.close()
    broker.stop()
    db = sqlite3.connect(broker.db_path)
    ids = [r[0] for r in db.execute("SELECT id FROM partitions ORDER BY id")]
    db.close()
    assert max(ids) == MAX_PARTITION_ID and len(ids) == 4, ids
    broker.start()
    for (topic, partition), n in counts.items():
        assert stored_batches(broker, topic, partition) == [(0, 0, n)], (topic, partition)


def test_two_batches_for_one_partition_are_refused_whole(broker, topic_name):
    """A record set [producer P seq 0, producer P seq 5] used to be answered
    OUT_OF_ORDER_SEQUENCE_NUMBER with its first batch stored anyway. As Kafka
    (Produce v3+), more than one batch per partition is INVALID_RECORD and
    nothing of it is stored or counted in the producer's sequence."""
    create_topic(broker, topic_name)
    c = RawClient(broker)
    err, pid, epoch = c.init_producer_id()
    assert err == NONE
    one = record_batch([(None, b"first", [])], producer_id=pid, producer_epoch=epoch, base_sequence=0)
    gap = record_batch([(None, b"gap", [])], producer_id=pid, producer_epoch=epoch, base_sequence=5)
    plain = record_batch([(None, b"plain", [])])
    for records in (one + gap, one + one, plain + plain):
        err, base = c.produce(topic_name, 0, records)
        assert (err, base) == (INVALID_RECORD, -1)
    assert c.high_watermark(topic_name, 0) == 0
    # The producer's sequence did not move: seq 0 is taken as new, at offset 0.
    assert c.produce(topic_name, 0, one) == (NONE, 0)
    assert c.produce(topic_name, 0, one) == (NONE, 0)  # a retry: its offset again
    assert stored_batches(broker, topic_name) == [(0, 0, 1)]
    c.close()


def raw_batch(records_section: bytes, count, attributes=0, base_ts=None, max_ts=None):
    """A magic-2 batch around an already encoded (or compressed) records
    section, with the header's count and timestamps as given."""
    from helpers import crc32c

    base_ts = int(time.time() * 1000) if base_ts is None else base_ts
    max_ts = base_ts if max_ts is None else max_ts
    after_crc = struct.pack(">hiqqqhii", attributes, count - 1, base_ts, max_ts, -1, -1, -1, count) + records_section
    tail = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


def test_a_decompression_bomb_costs_a_timestamp_lookup_bounded_memory(broker, topic_name):
    """A 65 KB gzip batch holding 64 MiB of minimal records (9.6 million)
    used to cost +544 MB per ListOffsets-by-timestamp lookup (every record
    kept, 16 bytes each, up to 32 MiB decompressed). Now the records stream
    past: the broker's RSS grows by less than 16 MiB over repeated lookups,
    each lookup stops at the first match or after 4 MiB decompressed, and
    another client's produce is answered."""
    import gzip

    create_topic(broker, topic_name)
    # attributes 0, timestamp delta 0, offset delta 0, null key, null value,
    # no headers: 6 bytes, after its length (6 -> zigzag 12).
    record = bytes([12, 0, 0, 0, 1, 1, 0])
    n = (64 << 20) // len(record)
    bomb = gzip.compress(record * n, compresslevel=9)
    assert len(bomb) < 100_000, len(bomb)
    base_ts = 1_700_000_000_000
    # The header's max timestamp lies one past every record's, so a lookup
    # for it reaches this batch and matches no record: the worst walk.
    batch = raw_batch(bomb, n, attributes=1, base_ts=base_ts, max_ts=base_ts + 1)
    c = RawClient(broker)
    assert c.produce(topic_name, 0, batch) == (NONE, 0)
    before = rss_kib(broker)
    for _ in range(5):
        t0 = time.monotonic()
        err, _ts, offset = c.list_offset(topic_name, 0, base_ts + 1)
        took = time.monotonic() - t0
        assert (err, offset) == (NONE, 0)
    assert c.list_offset(topic_name, 0, base_ts) == (NONE, base_ts, 0)
    grown = rss_kib(broker) - before
    assert grown < 16 * 1024, f"RSS grew by {grown} KiB"
    assert produce_answered(broker, topic_name)
    print(f"bomb lookup: {took * 1000:.0f} ms, RSS +{grown} KiB")
    c.close()


INVALID_TIMESTAMP = 32


def records_with_deltas(deltas):
    """Encoded records (value b"v") with these timestamp deltas."""
    from helpers import varint

    out = b""
    for i, d in enumerate(deltas):
        r = b"\x00" + varint(d) + varint(i) + varint(-1) + varint(1) + b"v" + varint(0)
        out += varint(len(r)) + r
    return out


def test_a_batch_without_max_timestamp_is_kept_and_found(tmp_path, topic_name):
    """Some clients leave the batch header's max timestamp at -1 while the
    records carry real timestamps: retention used to delete such batches at
    once and ListOffsets by timestamp answered -1. Now they are kept for the
    topic's retention.ms and found by their records' timestamps (uncompressed:
    the real maximum; compressed: no older than its arrival, so a lookup
    lands on it, never past it)."""
    import gzip

    b = Broker(tmp_path, env={"SKIFF_RETENTION_CHECK_INTERVAL_MS": "1000"})
    b.start()
    try:
        create_topic(b, topic_name, config={"retention.ms": "86400000"})
        c = RawClient(b)
        now = int(time.time() * 1000) - 60_000
        plain = raw_batch(records_with_deltas([0, 500, 1000]), 3, base_ts=now, max_ts=-1)
        packed = raw_batch(gzip.compress(records_with_deltas([0, 500])), 2, attributes=1, base_ts=now + 2000, max_ts=-1)
        assert c.produce(topic_name, 0, plain) == (NONE, 0)
        assert c.produce(topic_name, 0, packed) == (NONE, 3)
        time.sleep(2.5)  # two retention passes
        assert stored_batches(b, topic_name) == [(0, 0, 3), (3, 1, 2)]
        assert c.list_offset(topic_name, 0, now + 400) == (NONE, now + 500, 1)
        assert c.list_offset(topic_name, 0, now + 1000) == (NONE, now + 1000, 2)
        assert c.list_offset(topic_name, 0, now + 2100) == (NONE, now + 2500, 4)
        # Past every record but before its arrival: the compressed batch's
        # first offset (not -1, which would skip it).
        assert c.list_offset(topic_name, 0, now + 30_000) == (NONE, now + 30_000, 3)
        c.close()
    finally:
        b.cleanup()


def test_timestamps_out_of_the_topics_bounds_are_refused(broker, topic_name):
    """message.timestamp.after.max.ms (Kafka 4.0 default: one hour) and
    message.timestamp.before.max.ms give INVALID_TIMESTAMP, nothing stored."""
    create_topic(broker, topic_name)
    strict = f"{topic_name}-strict"
    create_topic(broker, strict, config={"message.timestamp.before.max.ms": "60000"})
    c = RawClient(broker)
    now = int(time.time() * 1000)
    future = record_batch([(None, b"future", [])], base_timestamp=now + 2 * 3600 * 1000)
    assert c.produce(topic_name, 0, future) == (INVALID_TIMESTAMP, -1)
    old = record_batch([(None, b"old", [])], base_timestamp=now - 3600 * 1000)
    assert c.produce(strict, 0, old) == (INVALID_TIMESTAMP, -1)
    assert c.produce(topic_name, 0, old) == (NONE, 0)  # the default has no past bound
    assert c.high_watermark(strict, 0) == 0
    assert c.produce(strict, 0, record_batch([(None, b"now", [])])) == (NONE, 0)
    c.close()


def test_the_process_exits_non_zero_when_the_writer_dies(tmp_path, topic_name):
    """A broker whose storage writer thread has died can store nothing but
    used to keep answering ApiVersions (so its health check passed and Docker
    never restarted it). Now the process exits non-zero at once, the health
    check fails, and a restart on the same file serves what was
    acknowledged. (The writer is killed by the SKIFF_TEST_WRITER_PANIC_TOPIC
    test hook.)"""
    import subprocess

    from conftest import BROKER_BIN

    b = Broker(tmp_path, env={"SKIFF_TEST_WRITER_PANIC_TOPIC": "boom"})
    b.start()
    try:
        create_topic(b, topic_name)
        c = RawClient(b)
        assert c.produce(topic_name, 0, record_batch([(None, b"acked", [])])) == (NONE, 0)
        c.send(
            19,
            2,
            struct.pack(">i", 1) + kstr("boom") + struct.pack(">ihii", 1, -1, 0, 0) + struct.pack(">ib", 30000, 0),
        )
        proc = b.proc
        rc = proc.wait(timeout=20)
        assert rc != 0, rc
        b.proc = None
        b._log.close()
        assert "the storage writer stopped unexpectedly" in b.log_text()
        health = subprocess.run(
            [BROKER_BIN, "--listener-url", b.url, "healthcheck", "--timeout", "2"],
            capture_output=True,
        )
        assert health.returncode != 0
        c.close()
        b.extra_env = {}
        b.start()
        assert stored_batches(b, topic_name) == [(0, 0, 1)]
        b.stop()
    finally:
        b.cleanup()
