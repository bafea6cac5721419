"""Message size limits, long-poll latency, many concurrent connections,
broker settings (auto-create), and the healthcheck command."""

import gc
import os
import socket
import statistics
import subprocess
import threading
import time

import pytest
from confluent_kafka import KafkaError, TopicPartition

from conftest import BROKER_BIN, Broker
from helpers import (
    RawClient,
    admin,
    consume_n,
    consumer,
    create_topic,
    produce_all,
    produce_ok,
    producer,
    record_batch,
)


def test_max_message_bytes_confluent(broker, topic_name):
    """A topic with max.message.bytes=1000 refuses a 5000-byte record with
    MESSAGE_TOO_LARGE in the delivery report and stores nothing; a topic with
    the default limit takes a 900 KB record, read back intact."""
    small, big = topic_name + "-small", topic_name + "-default"
    create_topic(broker, small, config={"max.message.bytes": "1000"})
    create_topic(broker, big)
    p = producer(broker)
    (r,) = produce_all(p, small, [{"value": os.urandom(5000)}])
    assert isinstance(r, KafkaError), f"5000-byte record accepted at offset {r.offset()}"
    assert r.code() == KafkaError.MSG_SIZE_TOO_LARGE, r
    (ok,) = produce_ok(p, small, [{"value": b"fits"}])
    assert ok.offset() == 0, "the refused record took an offset"

    payload = os.urandom(900 * 1024)
    (m,) = produce_ok(p, big, [{"key": b"big", "value": payload}])
    assert m.offset() == 0
    (got,) = consume_n(broker, big, 1)
    assert got.value() == payload
    (small_got,) = consume_n(broker, small, 1)
    assert small_got.value() == b"fits"


def test_max_message_bytes_kafka_python(broker, topic_name):
    from kafka import KafkaProducer
    from kafka.errors import MessageSizeTooLargeError

    create_topic(broker, topic_name, config={"max.message.bytes": "1000"})
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, retries=0, enable_idempotence=False)
    try:
        fut = p.send(topic_name, value=os.urandom(5000))
        with pytest.raises(MessageSizeTooLargeError):
            fut.get(30)
        assert p.send(topic_name, value=b"fits").get(30).offset == 0
    finally:
        p.close(10)


def test_long_poll_returns_promptly_on_produce(broker, topic_name):
    """A consumer parked in a Fetch with fetch.wait.max.ms=2000 on an empty
    topic gets a record promptly after it is produced (the long poll wakes on
    append instead of running out its wait)."""
    create_topic(broker, topic_name)
    c = consumer(broker, **{"fetch.wait.max.ms": 2000, "fetch.error.backoff.ms": 0})
    p = producer(broker, **{"linger.ms": 0})
    produce_ok(p, topic_name + "-warmup", [{"value": b"w"}])  # connection up
    c.assign([TopicPartition(topic_name, 0, 0)])
    received = {}
    stop = threading.Event()

    def poll_loop():
        while not stop.is_set() and len(received) < 3:
            m = c.poll(0.05)
            if m is not None and not m.error():
                received[m.offset()] = time.monotonic()

    t = threading.Thread(target=poll_loop)
    t.start()
    latencies = []
    try:
        for i in range(3):
            time.sleep(1.3)  # mid-way through a 2 s long poll
            acked = {}

            def cb(err, msg, i=i):
                acked[i] = time.monotonic()

            sent = time.monotonic()
            p.produce(topic_name, value=b"lp-%d" % i, on_delivery=cb)
            p.flush(10)
            deadline = time.monotonic() + 5
            while i not in received and time.monotonic() < deadline:
                time.sleep(0.005)
            assert i in received, f"record {i} not consumed within 5 s"
            latencies.append(received[i] - sent)
    finally:
        stop.set()
        t.join()
        c.close()
    print(f"long-poll produce->consume latencies: {[f'{x * 1000:.0f} ms' for x in latencies]}")
    assert max(latencies) < 1.5, f"latencies {latencies}"
    assert statistics.median(latencies) < 0.5, f"latencies {latencies}"


def test_long_poll_raw_fetch(broker, topic_name):
    """On the wire: a Fetch (max_wait 5000 ms, min_bytes 1) on an empty
    partition answers within 0.5 s of a produce, with the record; with no
    produce it answers after about max_wait (not at once, not much later)."""
    create_topic(broker, topic_name)
    waiter, writer = RawClient(broker), RawClient(broker)
    try:
        t0 = time.monotonic()
        waiter.send(1, 4, waiter.fetch_body(topic_name, 0, 0, 1000))
        err, hwm, recs = waiter.parse_fetch_v4(waiter.read_response())
        empty_wait = time.monotonic() - t0
        assert (err, hwm, recs) == (0, 0, b"")
        assert 0.8 <= empty_wait <= 2.5, f"empty long poll of 1000 ms answered after {empty_wait:.2f}s"

        waiter.send(1, 4, waiter.fetch_body(topic_name, 0, 0, 5000))
        time.sleep(0.5)
        t0 = time.monotonic()
        assert writer.produce(topic_name, 0, record_batch([(b"k", b"wake-up", [])]), acks=1) == (0, 0)
        err, hwm, recs = waiter.parse_fetch_v4(waiter.read_response())
        woke = time.monotonic() - t0
        print(f"raw fetch woke {woke * 1000:.0f} ms after the produce was sent")
        assert err == 0 and hwm == 1 and b"wake-up" in recs
        assert woke < 0.5, f"fetch answered {woke:.2f}s after the produce"
    finally:
        waiter.close()
        writer.close()


def test_two_hundred_concurrent_connections(broker, topic_name):
    """200 sockets open at once, each doing ApiVersions then Metadata; all
    answered, with the broker's own address in every Metadata."""
    create_topic(broker, topic_name)
    n = 200
    clients = [RawClient(broker, timeout=30) for _ in range(n)]
    barrier = threading.Barrier(n)
    results = [None] * n

    def work(i):
        c = clients[i]
        try:
            barrier.wait(30)
            versions = c.api_versions()
            brokers = c.metadata_brokers([topic_name])
            results[i] = (3 in versions and 0 in versions, brokers)
        except Exception as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    took = time.monotonic() - t0
    for c in clients:
        c.close()
    failures = [r for r in results if not (isinstance(r, tuple) and r[0])]
    assert not failures, f"{len(failures)} of {n} connections failed: {failures[:3]}"
    assert all(r[1] == [(0, "127.0.0.1", broker.port)] for r in results)
    print(f"{n} concurrent connections answered in {took:.2f}s")


def test_fifty_concurrent_producers(broker, topic_name):
    """50 confluent producers in parallel threads, 40 records each: all 2000
    delivered, each producer's records in its order."""
    create_topic(broker, topic_name, partitions=2)
    errors = []

    def run(i):
        try:
            p = producer(broker, **{"linger.ms": 5})
            produce_ok(p, topic_name, [{"key": b"p%d" % i, "value": b"%d:%d" % (i, j)} for j in range(40)])
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors[:3]
    got = consume_n(broker, topic_name, 2000, partitions=(0, 1), timeout=60)
    per = {}
    for m in sorted(got, key=lambda m: (m.partition(), m.offset())):
        i, j = m.value().split(b":")
        per.setdefault(i, []).append(int(j))
    assert len(per) == 50
    assert all(v == list(range(40)) for v in per.values())


def test_auto_create_settings(tmp_path, topic_name):
    """Metadata for an unknown topic auto-creates it with
    SKIFF_NUM_PARTITIONS partitions; with SKIFF_AUTO_CREATE_TOPICS=false it
    does not, and producing to it fails."""
    on = Broker(tmp_path / "on", env={"SKIFF_NUM_PARTITIONS": "3"})
    off = Broker(tmp_path / "off", env={"SKIFF_AUTO_CREATE_TOPICS": "false"})
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    try:
        on.start()
        p = producer(on)
        produce_ok(p, topic_name, [{"value": b"auto"}])
        md = admin(on).list_topics(timeout=10)
        assert len(md.topics[topic_name].partitions) == 3
        del p, md
        gc.collect()
        on.stop()

        off.start()
        md = admin(off).list_topics(topic=topic_name, timeout=10)
        assert md.topics[topic_name].error is not None
        assert md.topics[topic_name].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        p = producer(off, **{"message.timeout.ms": 3000})
        (r,) = produce_all(p, topic_name, [{"value": b"nowhere"}])
        assert isinstance(r, KafkaError), "produced to a topic that must not exist"
        assert topic_name not in admin(off).list_topics(timeout=10).topics
        del p, md
        gc.collect()
        off.stop()
    finally:
        on.cleanup()
        off.cleanup()


def healthcheck(args, env=None):
    return subprocess.run([BROKER_BIN, *args], capture_output=True, text=True, timeout=30, env=env)


def test_healthcheck_exit_codes(tmp_path):
    """healthcheck exits 0 while the broker answers and 1 once it is gone."""
    b = Broker(tmp_path)
    b.start()
    try:
        assert healthcheck(["--listener-url", b.url, "healthcheck"]).returncode == 0
        env = dict(os.environ, LISTENER_URL=b.url)
        assert healthcheck(["healthcheck"], env=env).returncode == 0
        b.stop()
        r = healthcheck(["--listener-url", b.url, "healthcheck", "--timeout", "2"])
        assert r.returncode == 1, (r.returncode, r.stderr)
    finally:
        b.cleanup()


def test_healthcheck_does_not_hang_on_silent_server():
    """A listener that accepts but never answers: healthcheck --timeout 2
    gives up with exit 1 within a few seconds."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = healthcheck(["--listener-url", f"tcp://127.0.0.1:{port}", "healthcheck", "--timeout", "2"])
        took = time.monotonic() - t0
        assert r.returncode == 1
        assert took < 6, f"healthcheck took {took:.1f}s with --timeout 2"
    finally:
        srv.close()


def test_healthcheck_listener_url_after_subcommand(broker):
    """The form `skiff-broker healthcheck --listener-url URL` (settings after
    the subcommand, as a container HEALTHCHECK line is usually written)."""
    r = healthcheck(["healthcheck", "--listener-url", broker.url])
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr.strip()}"


def test_advertised_listener(tmp_path):
    """ADVERTISED_LISTENER_URL is what Metadata tells clients; a 0.0.0.0
    listener without one advertises 127.0.0.1; clients follow the advertised
    address (here localhost) and produce through it."""
    from conftest import free_port

    port = free_port()
    b = Broker(tmp_path / "adv", env={"ADVERTISED_LISTENER_URL": "tcp://localhost:%d" % port})
    (tmp_path / "adv").mkdir()
    b.port = port
    b.start()
    try:
        md = admin(b).list_topics(timeout=10)
        assert [(x.host, x.port) for x in md.brokers.values()] == [("localhost", port)]
        (m,) = produce_ok(producer(b), "adv", [{"value": b"via localhost"}])
        assert m.offset() == 0
        gc.collect()
        b.stop()
    finally:
        b.cleanup()

    any_addr = Broker(tmp_path / "any", listen_host="0.0.0.0")
    (tmp_path / "any").mkdir()
    try:
        any_addr.start()  # its healthcheck maps 0.0.0.0 to 127.0.0.1
        c = RawClient(any_addr)
        try:
            assert c.metadata_brokers() == [(0, "127.0.0.1", any_addr.port)]
        finally:
            c.close()
        any_addr.stop()
    finally:
        any_addr.cleanup()


def test_concurrent_auto_creation(broker, topic_name):
    """Twenty producers start at once on topics that do not exist yet (five
    names, four producers each): every topic is auto-created once, with one
    partition, and every record is delivered."""
    names = [f"{topic_name}-{i}" for i in range(5)]
    errors = []
    barrier = threading.Barrier(20)

    def run(i):
        try:
            p = producer(broker, **{"linger.ms": 0})
            barrier.wait(30)
            produce_ok(p, names[i % 5], [{"value": b"%d-%d" % (i, j)} for j in range(10)])
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    md = admin(broker).list_topics(timeout=10)
    for n in names:
        assert len(md.topics[n].partitions) == 1
        got = consume_n(broker, n, 40)
        assert sorted(m.value() for m in got) == sorted(
            b"%d-%d" % (i, j) for i in range(20) if i % 5 == names.index(n) for j in range(10)
        )


def test_concurrent_auto_creation_on_the_wire(broker, topic_name):
    """Forty connections send Metadata v1 for new topics at the same instant
    (twenty names, two requests each): no request sees an error other than
    LEADER_NOT_AVAILABLE (5, Kafka's answer while a topic is being created),
    and afterwards each topic exists once with one partition."""
    names = [f"{topic_name}-{i}" for i in range(20)]
    clients = [RawClient(broker, timeout=30) for _ in range(40)]
    barrier = threading.Barrier(40)
    results = [None] * 40

    def run(i):
        try:
            barrier.wait(30)
            results[i] = clients[i].metadata_topics([names[i % 20]])
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()
    bad = [(i, r) for i, r in enumerate(results) if not isinstance(r, dict) or r[names[i % 20]][0] not in (0, 5)]
    assert not bad, f"{len(bad)} metadata requests failed, e.g. {bad[:3]}"
    c = RawClient(broker)
    try:
        after = c.metadata_topics(names)
    finally:
        c.close()
    assert after == {n: (0, 1) for n in names}


def test_disk_guard_refuses_produce_then_recovers_without_restart(tmp_path):
    """With SKIFF_MAX_DB_BYTES at 10 MiB (4 MiB of it reserved for the
    rollback journal, 1 MiB kept for small writes), produce fills the database
    until a batch is refused with KAFKA_STORAGE_ERROR, while consumers can
    still commit offsets. Deleting the full topic makes room at once: produce
    to a new topic succeeds without a restart. The clean shutdown and
    `skiff-broker compact` then succeed, and the data is still there."""
    b = Broker(tmp_path, env={"SKIFF_MAX_DB_BYTES": str(10 * 1024 * 1024)})
    b.start()
    try:
        create_topic(b, "fill")
        p = producer(b, **{"retries": 0, "message.timeout.ms": 10000})
        value = os.urandom(200_000)
        refused = None
        for stored in range(60):
            (r,) = produce_all(p, "fill", [{"value": value}])
            if isinstance(r, KafkaError):
                refused = r
                break
        assert refused is not None, "60 records of 200 KB fit in 10 MiB"
        assert refused.code() == KafkaError.KAFKA_STORAGE_ERROR, refused
        assert stored >= 10, f"refused after {stored} records"
        # The refusal is logged at WARN with the limit's name.
        assert "SKIFF_MAX_DB_BYTES" in b.log_text()

        c = consumer(b, **{"group.id": "guarded"})
        c.commit(offsets=[TopicPartition("fill", 0, stored)], asynchronous=False)
        c.close()

        a = admin(b)
        a.delete_topics(["fill"], operation_timeout=10)["fill"].result(timeout=20)
        create_topic(b, "again")
        produce_ok(p, "again", [{"value": value}] * 20)

        b.stop()
        done = subprocess.run(
            [BROKER_BIN, "--storage-engine", f"sqlite://{b.db_path}", "compact"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        b.start()
        got = consume_n(b, "again", 20)
        assert [m.value() for m in got] == [value] * 20
    finally:
        b.cleanup()
