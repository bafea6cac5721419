"""Kafka transactions (exactly-once) through real clients: confluent-kafka,
kafka-python, aiokafka and kcat. Each test counts exactly which records a
read_committed and a read_uncommitted consumer see.

Kafka's semantics, which these tests hold the broker to:
- a transaction's records are visible to read_committed consumers only once
  its commit marker is written; an aborted transaction's records never are;
  a read_uncommitted consumer sees every record written, committed or not;
- a read_committed consumer never reads past the last stable offset (LSO):
  the first offset of the oldest open transaction, so non-transactional
  records written after an open transaction's first record wait for it too;
- each commit or abort writes one control record per partition of the
  transaction: it takes an offset, and no consumer is ever handed it;
- offsets sent with send_offsets_to_transaction become the group's committed
  offsets when, and only if, the transaction commits;
- InitProducerId for a transactional id bumps its epoch: the older producer
  is fenced and its open transaction aborted;
- a transaction open longer than its transaction.timeout.ms is aborted by the
  broker, and its producer can no longer commit it;
- all of the above survives a SIGKILL of the broker.

Commit markers may be written after EndTxn is answered (Kafka writes them
asynchronously), so reads wait, with a deadline, for the records they expect;
records that must stay invisible are followed by records that must be seen,
so that reading up to those proves the others were skipped."""

import asyncio
import struct
import subprocess
import time
import uuid

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import OffsetSpec

from helpers import RawClient, admin, create_topic, kstr, produce_ok, producer

TXN_TIMEOUT_MS = 10000
READ_TIMEOUT_S = 15
SETTLE_S = 0.5

FENCED_CODES = {
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
}


# ------------------------------------------------------------------ helpers


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def txn_producer(broker, txn_id, timeout_ms=TXN_TIMEOUT_MS, **conf):
    """A confluent-kafka transactional producer (not yet initialised)."""
    c = {
        "bootstrap.servers": broker.bootstrap,
        "transactional.id": txn_id,
        "transaction.timeout.ms": timeout_ms,
        # librdkafka requires message.timeout.ms <= transaction.timeout.ms.
        "message.timeout.ms": timeout_ms,
        "linger.ms": 5,
    }
    c.update(conf)
    return Producer(c)


def init_txn_producer(broker, txn_id, timeout_ms=TXN_TIMEOUT_MS, **conf):
    p = txn_producer(broker, txn_id, timeout_ms, **conf)
    p.init_transactions(15)
    return p


def plain_producer(broker):
    """A non-transactional idempotent producer."""
    return producer(broker, **{"enable.idempotence": True, "acks": "all"})


def vals(prefix, n):
    return [b"%s-%d" % (prefix.encode(), i) for i in range(n)]


def send(p, topic, partition, values):
    """Produces values to one partition and waits for every delivery report;
    returns the offsets."""
    reports = produce_ok(p, topic, [{"value": v} for v in values], partition=partition)
    return [r.offset() for r in reports]


def read(broker, tps, isolation, n, timeout=READ_TIMEOUT_S, settle=SETTLE_S, offset=OFFSET_BEGINNING, **conf):
    """Reads the partitions tps ([(topic, partition)]) from `offset` (their
    beginning unless told) with a confluent-kafka consumer at `isolation`
    until n records arrived, then for `settle` more seconds to catch any
    record beyond them. Returns {(topic, partition): [values in offset
    order]}; asserts exactly n. conf: more consumer settings."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": uid("reader"),
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
            **conf,
        }
    )
    got = {tp: [] for tp in tps}
    count = 0
    try:
        c.assign([TopicPartition(t, p, offset) for t, p in tps])
        deadline = time.monotonic() + timeout
        while count < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                raise AssertionError(f"consumer error: {m.error()}")
            got[(m.topic(), m.partition())].append(m.value())
            count += 1
        assert count == n, f"{isolation}: {count} of {n} records within {timeout}s: {got}"
        settle_end = time.monotonic() + settle
        while time.monotonic() < settle_end:
            m = c.poll(0.1)
            if m is not None and not m.error():
                got[(m.topic(), m.partition())].append(m.value())
                count += 1
        assert count == n, f"{isolation}: {count - n} records beyond the expected {n}: {got}"
        return got
    finally:
        c.close()


def reader(broker, tps, isolation):
    """A confluent-kafka consumer assigned to tps from the beginning, for
    tests that keep reading as things change."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": uid("reader"),
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
        }
    )
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in tps])
    return c


def poll_values(c, n, timeout):
    """Up to n values from consumer c within timeout seconds."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            raise AssertionError(f"consumer error: {m.error()}")
        out.append(m.value())
    return out


def latest(a, topic, partition, isolation):
    """AdminClient.list_offsets latest at an isolation level: the LSO for
    read_committed, the high watermark for read_uncommitted."""
    tp = TopicPartition(topic, partition)
    res = a.list_offsets({tp: OffsetSpec.latest()}, isolation_level=isolation, request_timeout=10)
    return res[tp].result(timeout=15).offset


def wait_for(pred, what, timeout=READ_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last is True:
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last})")


def wait_stable(broker, tps):
    """Waits until each partition's LSO equals its high watermark: every
    marker written, nothing open."""
    a = admin(broker)

    def stable():
        for t, p in tps:
            lso = latest(a, t, p, IsolationLevel.READ_COMMITTED)
            hwm = latest(a, t, p, IsolationLevel.READ_UNCOMMITTED)
            if lso != hwm:
                return f"{t}/{p}: LSO {lso}, high watermark {hwm}"
        return True

    wait_for(stable, "partitions stable")


def committed(broker, group, tps, isolation="read_uncommitted"):
    """The group's committed offsets of tps ([(topic, partition)]) as
    {(topic, partition): offset}, read by a consumer that is no member. A
    read_uncommitted consumer asks without require_stable (KIP-447), so it
    gets the last committed offset even while a transaction holds pending
    offsets for the group."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    try:
        res = c.committed([TopicPartition(t, p) for t, p in tps], timeout=10)
        return {(r.topic, r.partition): r.offset for r in res}
    finally:
        c.close()


def commit_error(fn):
    """Runs fn, which must raise KafkaException; returns its KafkaError."""
    with pytest.raises(KafkaException) as ei:
        fn()
    return ei.value.args[0]


# ------------------------------------------------- 1. commit, abort, interleave


def test_committed_transaction_over_two_topics_seen_by_both_isolation_levels(broker):
    t1, t2 = uid("txn-a"), uid("txn-b")
    create_topic(broker, t1, partitions=2)
    create_topic(broker, t2, partitions=2)
    tps = [(t1, 0), (t1, 1), (t2, 0), (t2, 1)]
    expected = {tp: vals(f"{tp[0]}-{tp[1]}", 5) for tp in tps}
    p = init_txn_producer(broker, uid("tid"))
    p.begin_transaction()
    for (t, part), values in expected.items():
        send(p, t, part, values)
    p.commit_transaction(15)
    n = sum(len(v) for v in expected.values())
    assert read(broker, tps, "read_committed", n) == expected
    assert read(broker, tps, "read_uncommitted", n) == expected
    # One commit marker per partition, at the end of each.
    wait_stable(broker, tps)
    a = admin(broker)
    for t, part in tps:
        assert latest(a, t, part, IsolationLevel.READ_UNCOMMITTED) == 6


def test_aborted_transaction_seen_only_by_read_uncommitted(broker):
    t = uid("txn-abort")
    create_topic(broker, t, partitions=2)
    tps = [(t, 0), (t, 1)]
    p = init_txn_producer(broker, uid("tid"))
    p.begin_transaction()
    send(p, t, 0, vals("ab0", 4))
    send(p, t, 1, vals("ab1", 4))
    p.abort_transaction(15)
    # Records every consumer must see after the aborted ones: reading up to
    # them shows read_committed skipped the aborted records.
    np = plain_producer(broker)
    send(np, t, 0, [b"after-0"])
    send(np, t, 1, [b"after-1"])
    assert read(broker, tps, "read_committed", 2) == {(t, 0): [b"after-0"], (t, 1): [b"after-1"]}
    assert read(broker, tps, "read_uncommitted", 10) == {
        (t, 0): vals("ab0", 4) + [b"after-0"],
        (t, 1): vals("ab1", 4) + [b"after-1"],
    }


def test_interleaved_committed_aborted_and_non_transactional(broker):
    """On one partition: committed T1, aborted T2, idempotent records,
    committed T3 with idempotent records written while it is open, aborted
    T4, an idempotent record last."""
    t = uid("txn-mix")
    create_topic(broker, t)
    tp = [(t, 0)]
    p = init_txn_producer(broker, uid("tid"))
    np = plain_producer(broker)

    p.begin_transaction()
    send(p, t, 0, vals("c1", 5))
    p.commit_transaction(15)

    p.begin_transaction()
    send(p, t, 0, vals("a2", 5))
    p.abort_transaction(15)

    send(np, t, 0, vals("n1", 3))

    p.begin_transaction()
    send(p, t, 0, vals("c3a", 3))
    send(np, t, 0, vals("n2", 2))  # inside T3's span of offsets
    send(p, t, 0, vals("c3b", 2))
    p.commit_transaction(15)

    p.begin_transaction()
    send(p, t, 0, vals("a4", 3))
    p.abort_transaction(15)

    send(np, t, 0, [b"last"])

    committed_view = vals("c1", 5) + vals("n1", 3) + vals("c3a", 3) + vals("n2", 2) + vals("c3b", 2) + [b"last"]
    everything = (
        vals("c1", 5)
        + vals("a2", 5)
        + vals("n1", 3)
        + vals("c3a", 3)
        + vals("n2", 2)
        + vals("c3b", 2)
        + vals("a4", 3)
        + [b"last"]
    )
    assert read(broker, tp, "read_committed", len(committed_view)) == {(t, 0): committed_view}
    assert read(broker, tp, "read_uncommitted", len(everything)) == {(t, 0): everything}
    # 24 records and four markers (T1..T4), each taking an offset.
    wait_stable(broker, tp)
    assert latest(admin(broker), t, 0, IsolationLevel.READ_UNCOMMITTED) == len(everything) + 4


@pytest.mark.parametrize("start", [0, 2, 4])
def test_read_committed_skips_an_aborted_transaction_from_any_start_offset(broker, start):
    """A consumer that starts inside an aborted transaction, and fetches one
    batch at a time, still skips all of it: each Fetch must list the aborted
    transactions overlapping its range, including those begun before it."""
    t = uid("txn-mid")
    create_topic(broker, t)
    tp = [(t, 0)]
    p = init_txn_producer(broker, uid("tid"))
    p.begin_transaction()
    offsets = [send(p, t, 0, [v])[0] for v in vals("ab", 5)]  # a batch each
    assert offsets == [0, 1, 2, 3, 4]
    p.abort_transaction(15)
    assert send(plain_producer(broker), t, 0, vals("after", 2)) == [6, 7]  # the marker at 5
    small = {"max.partition.fetch.bytes": 1}
    assert read(broker, tp, "read_committed", 2, offset=start, **small) == {(t, 0): vals("after", 2)}
    assert read(broker, tp, "read_uncommitted", 7 - start, offset=start, **small) == {
        (t, 0): vals("ab", 5)[start:] + vals("after", 2)
    }


def test_two_producers_interleaved_on_one_partition(broker):
    """Transactions A and B interleave on one partition; B commits first, A
    aborts. The LSO stays at A's first record until A ends; then
    read_committed sees B's records and the idempotent one, never A's."""
    t = uid("txn-two")
    create_topic(broker, t)
    tp = [(t, 0)]
    a = admin(broker)
    pa = init_txn_producer(broker, uid("tid-a"))
    pb = init_txn_producer(broker, uid("tid-b"))
    np = plain_producer(broker)
    pa.begin_transaction()
    pb.begin_transaction()
    assert send(pa, t, 0, [b"a0"]) == [0]
    assert send(pb, t, 0, [b"b0"]) == [1]
    assert send(pa, t, 0, [b"a1"]) == [2]
    assert send(pb, t, 0, [b"b1"]) == [3]
    assert send(np, t, 0, [b"n0"]) == [4]
    pb.commit_transaction(15)
    rc = reader(broker, tp, "read_committed")
    try:
        # B is committed, but A, older and open, holds the LSO at 0.
        assert poll_values(rc, 1, 2.0) == []
        assert latest(a, t, 0, IsolationLevel.READ_COMMITTED) == 0
        pa.abort_transaction(15)
        assert poll_values(rc, 3, READ_TIMEOUT_S) == [b"b0", b"b1", b"n0"]
        assert poll_values(rc, 1, SETTLE_S) == []
    finally:
        rc.close()
    assert read(broker, tp, "read_uncommitted", 5) == {(t, 0): [b"a0", b"b0", b"a1", b"b1", b"n0"]}
    wait_stable(broker, tp)
    assert latest(a, t, 0, IsolationLevel.READ_UNCOMMITTED) == 7  # two markers


# ----------------------------------------------------- 2. last stable offset


def test_read_committed_stops_at_the_last_stable_offset(broker):
    t = uid("txn-lso")
    create_topic(broker, t)
    tp = [(t, 0)]
    a = admin(broker)
    np = plain_producer(broker)
    assert send(np, t, 0, vals("pre", 3)) == [0, 1, 2]
    p = init_txn_producer(broker, uid("tid"))
    p.begin_transaction()
    assert send(p, t, 0, vals("open", 4)) == [3, 4, 5, 6]
    assert send(np, t, 0, vals("post", 2)) == [7, 8]

    rc = reader(broker, tp, "read_committed")
    ru = reader(broker, tp, "read_uncommitted")
    try:
        assert poll_values(rc, 3, READ_TIMEOUT_S) == vals("pre", 3)
        # Nothing at or after the open transaction's first record.
        assert poll_values(rc, 1, 2.0) == []
        assert poll_values(ru, 9, READ_TIMEOUT_S) == vals("pre", 3) + vals("open", 4) + vals("post", 2)
        assert latest(a, t, 0, IsolationLevel.READ_COMMITTED) == 3
        assert latest(a, t, 0, IsolationLevel.READ_UNCOMMITTED) == 9

        p.commit_transaction(15)
        assert poll_values(rc, 6, READ_TIMEOUT_S) == vals("open", 4) + vals("post", 2)
        assert poll_values(rc, 1, SETTLE_S) == []
        assert poll_values(ru, 1, SETTLE_S) == [], "the commit marker was handed to a consumer"
        wait_for(lambda: latest(a, t, 0, IsolationLevel.READ_COMMITTED) == 10 or "LSO not 10", "LSO at the end")
        assert latest(a, t, 0, IsolationLevel.READ_UNCOMMITTED) == 10
    finally:
        rc.close()
        ru.close()


# ------------------------------------------ 3. consume-transform-produce


def transform(v):
    return b"out:" + v


def process(broker, p, group, in_topic, out_topic, n, abort=False, check_before_commit=None):
    """One run of a transactional processor: a read_committed group member
    consumes n records of in_topic, produces their transforms to the same
    partition of out_topic, sends the offsets to the transaction, and
    commits (or aborts). Returns the input values it consumed per partition
    and the offsets it sent."""
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
        }
    )
    try:
        c.subscribe([in_topic])
        msgs = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(msgs) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            assert not m.error(), f"consumer error: {m.error()}"
            msgs.append(m)
        assert len(msgs) == n, f"processor consumed {len(msgs)} of {n}"
        extra = c.poll(SETTLE_S)
        assert extra is None or extra.error(), "processor got more input than expected"
        consumed = {}
        offsets = {}
        p.begin_transaction()
        for m in msgs:
            consumed.setdefault(m.partition(), []).append(m.value())
            offsets[m.partition()] = m.offset() + 1
            p.produce(out_topic, transform(m.value()), partition=m.partition())
        assert p.flush(15) == 0
        p.send_offsets_to_transaction(
            [TopicPartition(in_topic, part, off) for part, off in sorted(offsets.items())],
            c.consumer_group_metadata(),
            15,
        )
        if check_before_commit is not None:
            check_before_commit()
        if abort:
            p.abort_transaction(15)
        else:
            p.commit_transaction(15)
        return consumed, offsets
    finally:
        c.close()


def test_consume_transform_produce_with_send_offsets_to_transaction(broker):
    src, dst, group = uid("ctp-in"), uid("ctp-out"), uid("ctp-group")
    create_topic(broker, src, partitions=2)
    create_topic(broker, dst, partitions=2)
    in_tps = [(src, 0), (src, 1)]
    out_tps = [(dst, 0), (dst, 1)]
    np = plain_producer(broker)
    inputs = {part: vals(f"in{part}", 6) for part in (0, 1)}
    for part, values in inputs.items():
        send(np, src, part, values)
    p = init_txn_producer(broker, uid("tid"))
    unset = {tp: -1001 for tp in in_tps}  # OFFSET_INVALID: nothing committed

    def nothing_committed_yet():
        assert committed(broker, group, in_tps) == unset

    consumed, offsets = process(broker, p, group, src, dst, 12, check_before_commit=nothing_committed_yet)
    assert consumed == inputs and offsets == {0: 6, 1: 6}
    wait_for(
        lambda: (
            committed(broker, group, in_tps, "read_committed") == {(src, 0): 6, (src, 1): 6}
            or committed(broker, group, in_tps)
        ),
        "offsets committed with the transaction",
    )

    more = {part: vals(f"in{part}-more", 3) for part in (0, 1)}
    for part, values in more.items():
        send(np, src, part, values)

    def still_six():
        assert committed(broker, group, in_tps) == {(src, 0): 6, (src, 1): 6}

    consumed, offsets = process(broker, p, group, src, dst, 6, abort=True, check_before_commit=still_six)
    assert consumed == more and offsets == {0: 9, 1: 9}
    # The aborted transaction's offsets never become the group's.
    assert committed(broker, group, in_tps, "read_committed") == {(src, 0): 6, (src, 1): 6}
    assert committed(broker, group, in_tps) == {(src, 0): 6, (src, 1): 6}

    # A new run resumes at the committed offsets: the same records again.
    consumed, offsets = process(broker, p, group, src, dst, 6, check_before_commit=still_six)
    assert consumed == more and offsets == {0: 9, 1: 9}
    wait_for(
        lambda: (
            committed(broker, group, in_tps, "read_committed") == {(src, 0): 9, (src, 1): 9}
            or committed(broker, group, in_tps)
        ),
        "offsets committed with the transaction",
    )

    once = {(dst, part): [transform(v) for v in inputs[part] + more[part]] for part in (0, 1)}
    assert read(broker, out_tps, "read_committed", 18) == once
    with_aborted = {(dst, part): [transform(v) for v in inputs[part] + more[part] + more[part]] for part in (0, 1)}
    assert read(broker, out_tps, "read_uncommitted", 24) == with_aborted


def test_read_committed_consumer_waits_for_pending_transactional_offsets(broker):
    """While a transaction holds offsets for a group, a read_committed
    consumer's committed() (OffsetFetch with require_stable, KIP-447) gets no
    answer but UNSTABLE_OFFSET_COMMIT, which librdkafka retries: it must not
    resume at the older offset. A read_uncommitted one gets the older offset.
    After the commit both get the new one."""
    src, group = uid("stable-src"), uid("stable-group")
    create_topic(broker, src)
    tps = [(src, 0)]
    meta_consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    meta = meta_consumer.consumer_group_metadata()
    meta_consumer.close()
    p = init_txn_producer(broker, uid("tid"))
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(src, 0, 3)], meta, 15)
    p.commit_transaction(15)
    wait_for(lambda: committed(broker, group, tps, "read_committed") == {(src, 0): 3}, "offset 3")

    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(src, 0, 7)], meta, 15)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "isolation.level": "read_committed"})
    try:
        err = commit_error(lambda: c.committed([TopicPartition(src, 0)], timeout=2))
        assert err.code() == KafkaError._TIMED_OUT, err
        assert committed(broker, group, tps) == {(src, 0): 3}
        p.commit_transaction(15)
        wait_for(lambda: c.committed([TopicPartition(src, 0)], timeout=5)[0].offset == 7, "offset 7")
        assert committed(broker, group, tps) == {(src, 0): 7}
    finally:
        c.close()


# ------------------------------------------------------------ 4. fencing


@pytest.mark.parametrize("open_txn", [True, False], ids=["open-txn", "no-txn"])
def test_second_producer_fences_the_first(broker, open_txn):
    t = uid("txn-fence")
    create_topic(broker, t)
    tid = uid("tid")
    p1 = init_txn_producer(broker, tid)
    if open_txn:
        p1.begin_transaction()
        send(p1, t, 0, vals("zombie", 3))

    p2 = init_txn_producer(broker, tid)
    p2.begin_transaction()
    send(p2, t, 0, vals("new", 3))
    p2.commit_transaction(15)

    if not open_txn:
        p1.begin_transaction()
    # librdkafka raises the fatal error from produce or flush once it knows;
    # whether the record reached the broker, read_uncommitted tells below.
    try:
        p1.produce(t, b"zombie-late", partition=0)
        p1.flush(10)
    except KafkaException as e:
        err = e.args[0]
        assert err.fatal() or err.code() in FENCED_CODES, f"produce by the fenced producer: {err}"
    err = commit_error(lambda: p1.commit_transaction(10))
    assert err.fatal() or err.code() in FENCED_CODES, f"commit by the fenced producer: {err}"

    np = plain_producer(broker)
    send(np, t, 0, [b"last"])
    assert read(broker, [(t, 0)], "read_committed", 4) == {(t, 0): vals("new", 3) + [b"last"]}
    everything = (vals("zombie", 3) if open_txn else []) + vals("new", 3) + [b"last"]
    assert read(broker, [(t, 0)], "read_uncommitted", len(everything)) == {(t, 0): everything}


# ------------------------------------------------------------ 5. timeout


def test_transaction_timeout_aborts_a_stalled_transaction(broker):
    t = uid("txn-timeout")
    create_topic(broker, t)
    tp = [(t, 0)]
    p = init_txn_producer(broker, uid("tid"), timeout_ms=3000)
    np = plain_producer(broker)
    send(np, t, 0, [b"before"])
    p.begin_transaction()
    started = time.monotonic()
    send(p, t, 0, vals("stalled", 3))
    send(np, t, 0, vals("after", 2))
    rc = reader(broker, tp, "read_committed")
    try:
        assert poll_values(rc, 1, READ_TIMEOUT_S) == [b"before"]
        # Still open before its timeout: nothing past it.
        assert poll_values(rc, 1, max(0.0, started + 2.0 - time.monotonic())) == []
        # The broker aborts it after 3 s (checking about every second).
        assert poll_values(rc, 2, 12) == vals("after", 2)
        assert poll_values(rc, 1, SETTLE_S) == []
    finally:
        rc.close()
    assert time.monotonic() - started >= 2.5, "read_committed got past the transaction before its timeout"
    # Well past the timeout, as a stalled producer would be.
    time.sleep(max(0.0, started + 8.0 - time.monotonic()))
    err = commit_error(lambda: p.commit_transaction(10))
    print(f"commit after the timeout: {err}")
    assert err.code() != KafkaError._TIMED_OUT, f"the broker did not answer the commit: {err}"
    assert read(broker, tp, "read_committed", 3) == {(t, 0): [b"before"] + vals("after", 2)}
    assert read(broker, tp, "read_uncommitted", 6) == {(t, 0): [b"before"] + vals("stalled", 3) + vals("after", 2)}


# ------------------------------------------------------- 6. kafka-python


def kp_read(broker, topic, n, isolation):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    c = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation,
        fetch_max_wait_ms=100,
    )
    try:
        tp = KTP(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(out) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=200).values():
                out.extend(r.value for r in recs)
        assert len(out) == n, f"kafka-python {isolation}: {len(out)} of {n}: {out}"
        settle_end = time.monotonic() + SETTLE_S
        while time.monotonic() < settle_end:
            for recs in c.poll(timeout_ms=100).values():
                out.extend(r.value for r in recs)
        assert len(out) == n, f"kafka-python {isolation}: records beyond the expected {n}: {out}"
        return out
    finally:
        c.close()


def test_kafka_python_transactional_commit_and_abort(broker):
    from kafka import KafkaProducer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    t, src, group = uid("kp-txn"), uid("kp-src"), uid("kp-group")
    create_topic(broker, t)
    create_topic(broker, src)
    send(plain_producer(broker), src, 0, vals("src", 10))
    p = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        transactional_id=uid("kp-tid"),
        transaction_timeout_ms=TXN_TIMEOUT_MS,
        linger_ms=5,
    )
    try:
        p.init_transactions()
        p.begin_transaction()
        for v in vals("kc1", 4):
            p.send(t, v, partition=0)
        p.send_offsets_to_transaction({KTP(src, 0): OffsetAndMetadata(4, "", -1)}, group)
        p.commit_transaction()
        p.begin_transaction()
        for v in vals("ka", 3):
            p.send(t, v, partition=0)
        p.send_offsets_to_transaction({KTP(src, 0): OffsetAndMetadata(9, "", -1)}, group)
        p.flush()
        p.abort_transaction()
        p.begin_transaction()
        for v in vals("kc2", 2):
            p.send(t, v, partition=0)
        p.commit_transaction()
    finally:
        p.close(timeout=5)
    assert kp_read(broker, t, 6, "read_committed") == vals("kc1", 4) + vals("kc2", 2)
    assert kp_read(broker, t, 9, "read_uncommitted") == vals("kc1", 4) + vals("ka", 3) + vals("kc2", 2)
    # And librdkafka agrees.
    assert read(broker, [(t, 0)], "read_committed", 6) == {(t, 0): vals("kc1", 4) + vals("kc2", 2)}
    # The committed transaction's offset, not the aborted one's.
    wait_for(
        lambda: (
            committed(broker, group, [(src, 0)], "read_committed") == {(src, 0): 4}
            or committed(broker, group, [(src, 0)])
        ),
        "offset 4 committed",
    )


# ------------------------------------------------------------- 7. aiokafka


class Abort(Exception):
    pass


async def aio_read(bootstrap, topic, n, isolation):
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as ATP

    c = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation,
        fetch_max_wait_ms=100,
    )
    await c.start()
    try:
        tp = ATP(topic, 0)
        c.assign([tp])
        await c.seek_to_beginning(tp)
        out = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_TIMEOUT_S
        while len(out) < n and loop.time() < deadline:
            for recs in (await c.getmany(timeout_ms=200)).values():
                out.extend(r.value for r in recs)
        assert len(out) == n, f"aiokafka {isolation}: {len(out)} of {n}: {out}"
        for recs in (await c.getmany(timeout_ms=int(SETTLE_S * 1000))).values():
            out.extend(r.value for r in recs)
        assert len(out) == n, f"aiokafka {isolation}: records beyond the expected {n}: {out}"
        return out
    finally:
        await c.stop()


async def aio_committed(bootstrap, group, topic):
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as ATP

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return await c.committed(ATP(topic, 0))
    finally:
        await c.stop()


async def aio_scenario(bootstrap, topic, src, group, tid):
    from aiokafka import AIOKafkaProducer
    from aiokafka import TopicPartition as ATP

    p = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid, transaction_timeout_ms=TXN_TIMEOUT_MS)
    try:
        await p.start()
        async with p.transaction():
            for v in vals("ac1", 4):
                await p.send(topic, v, partition=0)
            await p.send_offsets_to_transaction({ATP(src, 0): 5}, group)
        with pytest.raises(Abort):
            async with p.transaction():
                for v in vals("aa", 3):
                    await (await p.send(topic, v, partition=0))
                await p.send_offsets_to_transaction({ATP(src, 0): 9}, group)
                raise Abort
        async with p.transaction():
            for v in vals("ac2", 2):
                await p.send(topic, v, partition=0)
    finally:
        await p.stop()
    assert await aio_read(bootstrap, topic, 6, "read_committed") == vals("ac1", 4) + vals("ac2", 2)
    assert await aio_read(bootstrap, topic, 9, "read_uncommitted") == vals("ac1", 4) + vals("aa", 3) + vals("ac2", 2)
    assert await aio_committed(bootstrap, group, src) == 5


def test_aiokafka_transactions_and_send_offsets(broker):
    t, src = uid("aio-txn"), uid("aio-src")
    create_topic(broker, t)
    create_topic(broker, src)
    send(plain_producer(broker), src, 0, vals("src", 10))
    asyncio.run(aio_scenario(broker.bootstrap, t, src, uid("aio-group"), uid("aio-tid")))


# ----------------------------------------------------------------- 8. kcat


def kcat_values(broker, topic, isolation):
    r = subprocess.run(
        [
            "kcat",
            "-b",
            broker.bootstrap,
            "-C",
            "-t",
            topic,
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%s\\n",
            "-X",
            f"isolation.level={isolation}",
        ],
        capture_output=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.splitlines()


def test_kcat_read_committed_prints_only_committed(broker):
    t = uid("kcat-txn")
    create_topic(broker, t)
    p = init_txn_producer(broker, uid("tid"))
    p.begin_transaction()
    send(p, t, 0, vals("kc", 3))
    p.commit_transaction(15)
    p.begin_transaction()
    send(p, t, 0, vals("ka", 2))
    p.abort_transaction(15)
    send(plain_producer(broker), t, 0, [b"plain"])
    wait_stable(broker, [(t, 0)])
    assert kcat_values(broker, t, "read_committed") == vals("kc", 3) + [b"plain"]
    assert kcat_values(broker, t, "read_uncommitted") == vals("kc", 3) + vals("ka", 2) + [b"plain"]


# ---------------------------------------------------------- 9. crash safety


def test_sigkill_with_open_transaction_then_new_producer_aborts_it(broker):
    t = uid("crash-open")
    create_topic(broker, t)
    tid = uid("tid")
    old = init_txn_producer(broker, tid)
    old.begin_transaction()
    send(old, t, 0, vals("old", 3))
    broker.kill()
    broker.start()
    new = init_txn_producer(broker, tid)
    new.begin_transaction()
    send(new, t, 0, vals("new", 3))
    new.commit_transaction(15)
    assert read(broker, [(t, 0)], "read_committed", 3) == {(t, 0): vals("new", 3)}
    # The old transaction's acknowledged records are stored, and aborted.
    assert read(broker, [(t, 0)], "read_uncommitted", 6) == {(t, 0): vals("old", 3) + vals("new", 3)}
    del old


def test_sigkill_after_acknowledged_commit_keeps_the_transaction(broker):
    t = uid("crash-commit")
    create_topic(broker, t, partitions=2)
    tps = [(t, 0), (t, 1)]
    tid = uid("tid")
    p = init_txn_producer(broker, tid)
    p.begin_transaction()
    send(p, t, 0, vals("c0", 4))
    send(p, t, 1, vals("c1", 4))
    p.commit_transaction(15)
    broker.kill()
    broker.start()
    assert read(broker, tps, "read_committed", 8) == {(t, 0): vals("c0", 4), (t, 1): vals("c1", 4)}
    # The transactional id carries on after the restart.
    p2 = init_txn_producer(broker, tid)
    p2.begin_transaction()
    send(p2, t, 0, vals("d0", 2))
    p2.commit_transaction(15)
    assert read(broker, tps, "read_committed", 10) == {(t, 0): vals("c0", 4) + vals("d0", 2), (t, 1): vals("c1", 4)}
    del p


def test_sigkill_with_open_transaction_times_out_after_restart(broker):
    t = uid("crash-timeout")
    create_topic(broker, t)
    tp = [(t, 0)]
    old = init_txn_producer(broker, uid("tid"), timeout_ms=3000)
    old.begin_transaction()
    send(old, t, 0, vals("old", 3))
    broker.kill()
    del old
    broker.start()
    send(plain_producer(broker), t, 0, vals("after", 2))
    # No producer comes back for it: the broker's timeout aborts it.
    assert read(broker, tp, "read_committed", 2, timeout=15) == {(t, 0): vals("after", 2)}
    assert read(broker, tp, "read_uncommitted", 5) == {(t, 0): vals("old", 3) + vals("after", 2)}


def test_sigkill_before_commit_leaves_committed_offsets_unchanged(broker):
    src, group, tid = uid("crash-src"), uid("crash-group"), uid("tid")
    create_topic(broker, src)
    send(plain_producer(broker), src, 0, vals("in", 10))
    tps = [(src, 0)]
    meta_consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    meta = meta_consumer.consumer_group_metadata()
    p = init_txn_producer(broker, tid)
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(src, 0, 3)], meta, 15)
    p.commit_transaction(15)
    wait_for(lambda: committed(broker, group, tps) == {(src, 0): 3} or committed(broker, group, tps), "offset 3")

    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(src, 0, 7)], meta, 15)
    meta_consumer.close()
    broker.kill()
    broker.start()
    assert committed(broker, group, tps) == {(src, 0): 3}
    # A new producer with the id aborts the pending offsets for good.
    init_txn_producer(broker, tid)
    wait_for(
        lambda: committed(broker, group, tps, "read_committed") == {(src, 0): 3} or committed(broker, group, tps),
        "offset still 3 once the transaction is aborted",
    )
    assert committed(broker, group, tps) == {(src, 0): 3}
    del p


def test_sigkill_before_commit_then_the_same_producer_commits(broker):
    """The transaction, its records and its pending offsets survive the
    crash: the producer that opened it commits it after the restart, and
    then both become visible."""
    src, t, group, tid = uid("crash2-src"), uid("crash2-out"), uid("crash2-group"), uid("tid")
    create_topic(broker, src)
    create_topic(broker, t)
    tps = [(src, 0)]
    meta_consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    meta = meta_consumer.consumer_group_metadata()
    meta_consumer.close()
    p = init_txn_producer(broker, tid, timeout_ms=30000)
    p.begin_transaction()
    send(p, t, 0, vals("kept", 3))
    p.send_offsets_to_transaction([TopicPartition(src, 0, 5)], meta, 15)
    broker.kill()
    broker.start()
    assert committed(broker, group, tps) == {(src, 0): -1001}
    p.commit_transaction(20)
    assert read(broker, [(t, 0)], "read_committed", 3) == {(t, 0): vals("kept", 3)}
    wait_for(
        lambda: committed(broker, group, tps, "read_committed") == {(src, 0): 5} or committed(broker, group, tps),
        "offset 5 committed after the restart",
    )


# ----------------------------------------------------------------- 10. admin


def find_coordinator(broker, key, key_type):
    """FindCoordinator v1: (error, node id, host, port)."""
    c = RawClient(broker)
    try:
        resp = c.request(10, 1, kstr(key) + bytes([key_type]))
    finally:
        c.close()
    _throttle, err, mlen = struct.unpack(">ihh", resp[:8])
    pos = 8 + max(mlen, 0)
    (node,) = struct.unpack(">i", resp[pos : pos + 4])
    (hlen,) = struct.unpack(">h", resp[pos + 4 : pos + 6])
    host = resp[pos + 6 : pos + 6 + hlen].decode()
    (port,) = struct.unpack(">i", resp[pos + 6 + hlen : pos + 10 + hlen])
    return err, node, host, port


def test_find_coordinator_for_a_transactional_id(broker):
    err, _node, host, port = find_coordinator(broker, uid("tid"), 1)
    assert err == 0, f"FindCoordinator(transaction) error {err}"
    assert (host, port) == ("127.0.0.1", broker.port)


def test_kafka_python_admin_lists_and_describes_transactions(broker):
    """DescribeTransactions and ListTransactions (KIP-664) through
    kafka-python's admin client (confluent-kafka's AdminClient has neither)."""
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient

    c = RawClient(broker)
    try:
        apis = c.api_versions()
    finally:
        c.close()
    assert 65 in apis and 66 in apis, "DescribeTransactions and ListTransactions not advertised"
    t, tid = uid("adm-txn"), uid("adm-tid")
    create_topic(broker, t)
    p = init_txn_producer(broker, tid)
    p.begin_transaction()
    send(p, t, 0, [b"x"])
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        desc = a.describe_transactions([tid])[tid]
        assert desc.state == "Ongoing"
        assert desc.transaction_timeout_ms == TXN_TIMEOUT_MS
        assert desc.topic_partitions == {KTP(t, 0)}
        listed = [x for rows in a.list_transactions().values() for x in rows if x.transactional_id == tid]
        assert [(x.producer_id, x.state) for x in listed] == [(desc.producer_id, "Ongoing")]
        p.commit_transaction(15)
        wait_for(lambda: a.describe_transactions([tid])[tid].state == "CompleteCommit", "CompleteCommit")
    finally:
        a.close()
