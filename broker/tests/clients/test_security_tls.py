"""TLS and SASL against the real binary, with real clients: confluent-kafka
(librdkafka 2.16), kafka-python, aiokafka and kcat (librdkafka 2.0.2) over
SASL_SSL with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, verifying a test CA's
certificate and the host name (as `localhost` and as 127.0.0.1); produce,
consume in a group and an admin call each. Also: a wrong password reported
by each client within 2 s (the issue's user-visible bound), the failed-login
rate limit, what an unauthenticated connection is served, plaintext and TLS
clients on the wrong port, the start-up refusals of bad settings, each
protocol's healthcheck, and certificate reload on SIGHUP."""

import asyncio
import gc
import json
import logging
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BROKER_BIN
from helpers import RawClient, kstr
from security_helpers import (
    SASL_AUTHENTICATION_FAILED,
    Pki,
    SaslRawClient,
    add_user,
    aio_conf,
    bootstrap_user,
    ck_conf,
    closed_within,
    kcat_args,
    kp_conf,
    log_lines,
    make_pki,
    raw_login,
    secure_broker,
)

KCAT = shutil.which("kcat") or "/usr/bin/kcat"
ADMIN, ADMIN_PW = "admin", "admin-secret-1"
ALICE, ALICE_PW = "alice", "alice pass phrase 2"
WRONG_PW = "Wr0ng-pw-zq7"
MECHANISMS = ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
# The bound for a wrong password to be reported to the user.
AUTH_ERROR_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    """SASL_SSL with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; `admin` made
    from SKIFF_BOOTSTRAP_USER (a SCRAM-SHA-512 verifier), `alice` with both
    SCRAM mechanisms made by `skiff-broker user add` while the broker is
    stopped."""
    d = tmp_path_factory.mktemp("tls")
    b = secure_broker(d, pki=make_pki(d), bootstrap=(ADMIN, "SCRAM-SHA-512", ADMIN_PW))
    try:
        b.stop()
        add_user(b, ALICE, ALICE_PW)
        b.start()
        yield b
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ck_create_topic(conf, name, partitions=1):
    a = AdminClient(conf)
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(timeout=20)
    md = a.list_topics(topic=name, timeout=10)
    assert len(md.topics[name].partitions) == partitions


def ck_produce(conf, topic, values):
    p = Producer({**conf, "linger.ms": 5, "message.timeout.ms": 20000})
    reports = []
    for v in values:
        p.produce(topic, v, on_delivery=lambda err, msg: reports.append(err or msg))
    assert p.flush(30) == 0
    errors = [r for r in reports if isinstance(r, KafkaError)]
    assert not errors, f"delivery errors: {errors[:3]}"
    return reports


def ck_group_consume(conf, topic, group, n, timeout=30):
    """Subscribes in `group`, reads n records, commits them and checks the
    committed offset; returns the values."""
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            got.append(m.value())
        assert len(got) == n, f"consumed {len(got)} of {n}"
        c.commit(asynchronous=False)
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert tp.offset == n, f"committed offset {tp.offset}, expected {n}"
        return got
    finally:
        c.close()


# ------------------------------------------------------------- real clients


@pytest.mark.parametrize(
    "mechanism,host", [("SCRAM-SHA-256", "localhost"), ("SCRAM-SHA-512", "127.0.0.1"), ("PLAIN", "localhost")]
)
def test_confluent_sasl_ssl(tls_broker, mechanism, host):
    """confluent-kafka over SASL_SSL with host-name verification: create a
    topic, produce, consume in a group with a commit, list the group."""
    conf = ck_conf(tls_broker, ALICE, ALICE_PW, mechanism, host=host)
    topic, group = unique("ck-" + mechanism.lower()), unique("ck-group")
    ck_create_topic(conf, topic)
    values = [b"confluent %s %d" % (mechanism.encode(), i) for i in range(20)]
    ck_produce(conf, topic, values)
    assert ck_group_consume(conf, topic, group, 20) == values
    a = AdminClient(conf)
    groups = a.list_consumer_groups(request_timeout=10).result(timeout=15)
    assert group in [g.group_id for g in groups.valid], f"listed {groups.valid}, errors {groups.errors}"


@pytest.mark.parametrize(
    "mechanism,host", [("SCRAM-SHA-256", "127.0.0.1"), ("SCRAM-SHA-512", "localhost"), ("PLAIN", "127.0.0.1")]
)
def test_kafka_python_sasl_ssl(tls_broker, mechanism, host):
    """kafka-python (ssl_check_hostname=True): admin create_topics and
    list_topics, produce, consume in a group and commit."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KNewTopic

    conf = kp_conf(tls_broker, ALICE, ALICE_PW, mechanism, host=host)
    topic, group = unique("kp-" + mechanism.lower()), unique("kp-group")
    a = KafkaAdminClient(**conf)
    try:
        a.create_topics([KNewTopic(topic, 1, 1)])
        assert topic in a.list_topics()
    finally:
        a.close()
    p = KafkaProducer(acks="all", **conf)
    try:
        metas = [p.send(topic, b"kp %d" % i, partition=0).get(timeout=20) for i in range(10)]
    finally:
        p.close()
    assert [m.offset for m in metas] == list(range(10))
    c = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **conf)
    try:
        got, deadline = [], time.monotonic() + 30
        while len(got) < 10 and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend(r.value for r in recs)
        assert got == [b"kp %d" % i for i in range(10)]
        c.commit()
        assert c.committed(KTP(topic, 0)) == 10
    finally:
        c.close()


async def aio_scenario(conf, topic, group):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin import NewTopic as ANewTopic

    admin = AIOKafkaAdminClient(**conf)
    await admin.start()
    try:
        await admin.create_topics([ANewTopic(topic, num_partitions=1, replication_factor=1)])
        assert topic in await admin.list_topics()
    finally:
        await admin.close()
    p = AIOKafkaProducer(acks="all", **conf)
    await p.start()
    try:
        metas = [await p.send_and_wait(topic, b"aio %d" % i, partition=0) for i in range(10)]
    finally:
        await p.stop()
    assert [m.offset for m in metas] == list(range(10))
    c = AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **conf)
    await c.start()
    try:
        got = []
        async with asyncio.timeout(30):
            while len(got) < 10:
                for recs in (await c.getmany(timeout_ms=500)).values():
                    got.extend(r.value for r in recs)
        assert got == [b"aio %d" % i for i in range(10)]
        await c.commit()
        from aiokafka import TopicPartition as ATP

        assert await c.committed(ATP(topic, 0)) == 10
    finally:
        await c.stop()


@pytest.mark.parametrize(
    "mechanism,host", [("SCRAM-SHA-256", "localhost"), ("SCRAM-SHA-512", "127.0.0.1"), ("PLAIN", "localhost")]
)
def test_aiokafka_sasl_ssl(tls_broker, mechanism, host):
    """aiokafka with an SSLContext checking the host name: admin, produce,
    consume in a group and commit."""
    conf = aio_conf(tls_broker, ALICE, ALICE_PW, mechanism, host=host)
    asyncio.run(aio_scenario(conf, unique("aio-" + mechanism.lower()), unique("aio-group")))


def run_kcat(args, stdin=None, timeout=60):
    r = subprocess.run([KCAT, *args], input=stdin, capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"kcat {args[-6:]} exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}"
    return r


@pytest.mark.parametrize(
    "mechanism,host", [("SCRAM-SHA-256", "127.0.0.1"), ("SCRAM-SHA-512", "localhost"), ("PLAIN", "127.0.0.1")]
)
def test_kcat_sasl_ssl(tls_broker, mechanism, host):
    """kcat on Debian's librdkafka 2.0.2 (host-name verification is its
    default): metadata, produce, and a balanced-group consume (-G)."""
    base = kcat_args(tls_broker, ALICE, ALICE_PW, mechanism, host=host)
    topic, group = unique("kcat-" + mechanism.lower()), unique("kcat-group")
    ck_create_topic(ck_conf(tls_broker, ALICE, ALICE_PW), topic)
    md = json.loads(run_kcat([*base, "-L", "-J", "-t", topic]).stdout)
    assert [t["topic"] for t in md["topics"]] == [topic]
    lines = [f"kcat {mechanism} {i}" for i in range(10)]
    run_kcat([*base, "-P", "-t", topic, "-p", "0"], stdin=("\n".join(lines) + "\n").encode())
    out = run_kcat(
        [*base, "-X", "auto.offset.reset=earliest", "-G", group, "-c", "10", "-f", "%o %s\n", topic]
    ).stdout.decode()
    assert out.splitlines() == [f"{i} {line}" for i, line in enumerate(lines)]


def test_host_name_is_verified(tmp_path):
    """A certificate from the trusted CA but for another host name is
    refused by librdkafka and Python's ssl: the clients above really verify
    the host name, so their passing says the broker's certificate matches."""
    b = secure_broker(tmp_path, pki=make_pki(tmp_path, sans=("broker.invalid",)),
                      bootstrap=(ADMIN, "SCRAM-SHA-512", ADMIN_PW))
    try:
        errors = librdkafka_errors(ck_conf(b, ADMIN, ADMIN_PW), lambda e: "certificate verify failed" in e.str())
        assert any("certificate verify failed" in e.str() for e in errors), [e.str() for e in errors]
        with pytest.raises(ssl.SSLCertVerificationError, match="match"):
            SaslRawClient(b)
    finally:
        b.cleanup()


def librdkafka_errors(conf, until, seconds=5.0):
    """Starts a librdkafka client (a Producer) and serves its error
    callbacks until one satisfies `until` or `seconds` pass; returns every
    error reported."""
    errors = []
    p = Producer({**conf, "error_cb": errors.append})
    deadline = time.monotonic() + seconds
    while not any(until(e) for e in errors) and time.monotonic() < deadline:
        p.poll(0.1)
    del p
    gc.collect()
    return errors


# ------------------------------------------------------------ wrong password


def wrong_password_confluent(b, mechanism):
    errors = []
    t0 = time.monotonic()
    p = Producer(ck_conf(b, ALICE, WRONG_PW, mechanism, error_cb=errors.append))
    while not errors and time.monotonic() - t0 < 10:
        p.poll(0.05)
    elapsed = time.monotonic() - t0
    assert errors, "no error reported within 10 s"
    e = errors[0]
    assert e.code() == KafkaError._AUTHENTICATION, e
    assert is_auth_error(e.str()), e.str()
    del p
    return elapsed, e.str()


def is_auth_error(message):
    return "authentication" in message.lower()


def timed_auth_report(logger_name, action):
    """Runs `action` (a client that should fail to log in) and returns the
    seconds until the client first reported an authentication error, as a
    warning or error in its log or as the exception it raised, and that
    report."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append((record.created, record.getMessage()))

    logger, handler = logging.getLogger(logger_name), Keep(level=logging.WARNING)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    t0, raised = time.time(), None
    try:
        action()
    except Exception as e:
        raised = (time.time(), f"{type(e).__name__}: {e}")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    reports = [r for r in records + ([raised] if raised else []) if is_auth_error(r[1])]
    assert reports, f"no authentication error reported; raised {raised}, logged {records[:5]}"
    when, message = min(reports)
    return when - t0, message


def wrong_password_kafka_python(b, mechanism):
    from kafka import KafkaProducer

    def attempt():
        # Gives up after 5 s instead of 30 (the measured report must come within 2 s anyway).
        KafkaProducer(bootstrap_timeout_ms=5000, **kp_conf(b, ALICE, WRONG_PW, mechanism)).close()

    return timed_auth_report("kafka", attempt)


def wrong_password_aiokafka(b, mechanism):
    from aiokafka import AIOKafkaProducer

    async def attempt():
        p = AIOKafkaProducer(**aio_conf(b, ALICE, WRONG_PW, mechanism))
        try:
            await p.start()
        finally:
            await p.stop()

    return timed_auth_report("aiokafka", lambda: asyncio.run(attempt()))


def wrong_password_kcat(b, mechanism):
    """kcat -L prints librdkafka's error as a log line on stderr: the time
    until that line appears."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [KCAT, *kcat_args(b, ALICE, WRONG_PW, mechanism), "-L", "-m", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if is_auth_error(line):
                return time.monotonic() - t0, line.strip()
        raise AssertionError(f"kcat exited {proc.wait()} without an authentication error: {''.join(seen)}")
    finally:
        proc.kill()
        proc.wait()


WRONG_PASSWORD = {
    "confluent": wrong_password_confluent,
    "kafka-python": wrong_password_kafka_python,
    "aiokafka": wrong_password_aiokafka,
    "kcat": wrong_password_kcat,
}


@pytest.mark.parametrize("client,mechanism", [
    ("confluent", "SCRAM-SHA-512"), ("kafka-python", "SCRAM-SHA-256"), ("aiokafka", "PLAIN"), ("kcat", "SCRAM-SHA-512")
])
def test_wrong_password_reported_within_2s(tmp_path, client, mechanism):
    """Each client reports an authentication error (not a timeout, not a
    dropped connection) within 2 s of being started with a wrong password.
    A broker of its own, so no earlier failure counts against the limit."""
    verifier = "SCRAM-SHA-512" if mechanism == "SCRAM-SHA-512" else "SCRAM-SHA-256"  # PLAIN checks SHA-256's
    b = secure_broker(tmp_path, pki=make_pki(tmp_path), bootstrap=(ALICE, verifier, ALICE_PW))
    try:
        elapsed, message = WRONG_PASSWORD[client](b, mechanism)
        assert elapsed < AUTH_ERROR_WITHIN_S, f"{client}: authentication error after {elapsed:.2f} s: {message}"
        assert WRONG_PW not in log_text_of(b), "the attempted password appears in the broker's log"
        gc.collect()
    finally:
        b.cleanup()


def log_text_of(b):
    return "\n".join(log_lines(b))


def test_wrong_password_answered_with_58_and_rate_limited(tmp_path):
    """At the wire: a wrong password gets SaslAuthenticate error 58 with a
    message, at once; after a burst of failures from 127.0.0.1 even the
    right password is refused from there, while 127.0.0.2 still logs in."""
    b = secure_broker(tmp_path, pki=make_pki(tmp_path), bootstrap=(ALICE, "SCRAM-SHA-256", ALICE_PW))
    try:
        assert raw_login(b, "SCRAM-SHA-256", ALICE, ALICE_PW) == (0, None)
        t0 = time.monotonic()
        err, first_msg = raw_login(b, "SCRAM-SHA-256", ALICE, WRONG_PW)
        assert time.monotonic() - t0 < AUTH_ERROR_WITHIN_S
        assert err == SASL_AUTHENTICATION_FAILED and first_msg, (err, first_msg)
        assert WRONG_PW not in first_msg
        err, msg = raw_login(b, "PLAIN", ALICE, WRONG_PW)
        assert err == SASL_AUTHENTICATION_FAILED and msg, (err, msg)
        limited = None
        for i in range(30):
            t0 = time.monotonic()
            err, msg = raw_login(b, "SCRAM-SHA-256", ALICE, f"guess{i}")
            took = time.monotonic() - t0
            assert took < AUTH_ERROR_WITHIN_S, f"attempt {i} answered after {took:.2f} s"
            assert err == SASL_AUTHENTICATION_FAILED, (i, err, msg)
            if msg != first_msg:
                limited = (i, msg)
                break
        assert limited is not None, "30 wrong passwords in a row from one address, none rate-limited"
        err, msg = raw_login(b, "SCRAM-SHA-256", ALICE, ALICE_PW)
        assert err == SASL_AUTHENTICATION_FAILED, "the right password accepted from a rate-limited address"
        other = SourceSaslClient(b, "127.0.0.2")
        try:
            assert other.login("SCRAM-SHA-256", ALICE, ALICE_PW) == (0, None)
        finally:
            other.close()
        assert "guess1" not in log_text_of(b)
    finally:
        b.cleanup()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_concurrent_right_passwords_from_one_address_all_log_in(tmp_path, mechanism):
    """40 connections from one address (an application host with many
    clients, or a NAT) sending the right password at the same moment all
    log in: the failed-login limit counts failures, not logins."""
    b = secure_broker(tmp_path, pki=make_pki(tmp_path), start=False)
    n = 40
    try:
        add_user(b, "many", "many-pw", mechanism="all")  # before the start: no wait for the broker to see it
        b.start()
        clients = [SaslRawClient(b) for _ in range(n)]
        barrier = threading.Barrier(n, timeout=10)
        results = [None] * n

        def run(i):
            try:
                results[i] = clients[i].login(mechanism, "many", "many-pw", before_proof=barrier.wait)
            except Exception as e:  # reported below with the others
                results[i] = (type(e).__name__, str(e))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        refused = [r for r in results if r != (0, None)]
        # The broker's answers first: a client stopped at the barrier only
        # says that another one never got that far.
        refused.sort(key=lambda r: r[0] == "BrokenBarrierError")
        assert not refused, f"{len(refused)} of {n} right passwords refused, e.g. {refused[:3]}"
        for c in clients:
            c.close()
    finally:
        b.cleanup()


class SourceSaslClient(SaslRawClient):
    """A SaslRawClient whose connection comes from another loopback address."""

    def __init__(self, broker, source):
        self.correlation = 0
        raw = socket.create_connection(("127.0.0.1", broker.port), timeout=10, source_address=(source, 0))
        ctx = ssl.create_default_context(cafile=str(broker.pki.ca))
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")


# --------------------------------------------------- before authentication


def test_unauthenticated_connection_gets_only_api_versions(tls_broker):
    """Before SASL: ApiVersions is answered (and lists SaslHandshake 0-1 and
    SaslAuthenticate 0-2); Metadata, Produce, or Metadata after a handshake
    but before authenticating, close the connection without an answer. The
    same Metadata after authenticating is answered."""
    c = SaslRawClient(tls_broker)
    try:
        versions = c.api_versions()
        assert versions[17][1] >= 1 and versions[36][1] >= 2, versions
        c.send(3, 1, struct.pack(">i", -1))
        assert closed_within(c.sock, 5), "Metadata before authentication was not refused by closing"
    finally:
        c.close()

    c = SaslRawClient(tls_broker)
    try:
        c.send(0, 3, kstr(None) + struct.pack(">hii", -1, 1000, 0))
        assert closed_within(c.sock, 5), "Produce before authentication was not refused by closing"
    finally:
        c.close()

    c = SaslRawClient(tls_broker)
    try:
        err, mechs = c.handshake("SCRAM-SHA-512")
        assert err == 0 and set(mechs) == {"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}, (err, mechs)
        c.send(3, 1, struct.pack(">i", -1))
        assert closed_within(c.sock, 5), "Metadata between SaslHandshake and SaslAuthenticate was served"
    finally:
        c.close()

    c = SaslRawClient(tls_broker)
    try:
        assert c.login("SCRAM-SHA-512", ADMIN, ADMIN_PW) == (0, None)
        assert c.metadata_brokers() == [(0, "127.0.0.1", tls_broker.port)]
    finally:
        c.close()


def test_handshake_for_a_mechanism_not_enabled(tmp_path):
    """With the default mechanisms (SCRAM only) a PLAIN handshake gets
    UNSUPPORTED_SASL_MECHANISM (33) and the enabled list, and librdkafka
    reports an error instead of logging in."""
    b = secure_broker(tmp_path, pki=make_pki(tmp_path), mechanisms=None, bootstrap=(ALICE, "SCRAM-SHA-256", ALICE_PW))
    try:
        c = SaslRawClient(b)
        try:
            assert c.handshake("PLAIN") == (33, ["SCRAM-SHA-256", "SCRAM-SHA-512"])
        finally:
            c.close()
        assert raw_login(b, "SCRAM-SHA-256", ALICE, ALICE_PW) == (0, None)
        errors = librdkafka_errors(ck_conf(b, ALICE, ALICE_PW, "PLAIN"), lambda e: "PLAIN" in e.str())
        assert any("PLAIN" in e.str() and e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    finally:
        b.cleanup()


def test_tls_client_closing_without_close_notify_is_not_a_warning(tmp_path):
    """A client that logs in, is served and then drops its socket without a
    TLS close_notify (as many clients do on exit) has done nothing wrong:
    no WARN line, and nothing counted as a malformed request. (A broker of
    its own: the refusal log is rate-limited per kind, so an earlier line
    of the same kind could hide this one.)"""
    b = secure_broker(tmp_path, pki=make_pki(tmp_path), bootstrap=(ADMIN, "SCRAM-SHA-512", ADMIN_PW))
    try:
        before = log_lines(b)
        c = SaslRawClient(b)
        assert c.login("SCRAM-SHA-512", ADMIN, ADMIN_PW) == (0, None)
        assert c.metadata_brokers() == [(0, "127.0.0.1", b.port)]
        c.close(notify=False)
        warnings = [line for line in new_log_lines(b, before, settle=0.5) if " WARN " in line]
        assert warnings == [], warnings
    finally:
        b.cleanup()


# ------------------------------------------------------------ wrong ports


def new_log_lines(b, before, settle=1.0):
    time.sleep(settle)
    return log_lines(b)[len(before):]


def test_plaintext_client_on_tls_port(tmp_path):
    """A plaintext Kafka request to the SASL_SSL port: the connection is
    closed at once with no Kafka answer, and the broker logs one line (a
    broker of its own: its refusal log is rate-limited per kind)."""
    tls_broker = secure_broker(tmp_path, pki=make_pki(tmp_path), bootstrap=(ADMIN, "SCRAM-SHA-512", ADMIN_PW))
    try:
        plaintext_client_on_tls_port(tls_broker)
    finally:
        tls_broker.cleanup()


def plaintext_client_on_tls_port(tls_broker):
    before = log_lines(tls_broker)
    s = socket.create_connection(("127.0.0.1", tls_broker.port), timeout=5)
    try:
        frame = struct.pack(">hhi", 18, 0, 1) + kstr("plaintext-client")
        s.sendall(struct.pack(">i", len(frame)) + frame)
        data = b""
        s.settimeout(5)
        try:
            while chunk := s.recv(4096):
                data += chunk
        except (ConnectionResetError, socket.timeout) as e:
            assert not isinstance(e, socket.timeout), f"connection left open; received {data!r}"
        # Whatever arrived is at most a TLS alert record (type 21), never a Kafka response.
        assert data == b"" or data[0] == 21, f"not a TLS alert: {data[:16]!r}"
    finally:
        s.close()
    lines = new_log_lines(tls_broker, before)
    assert len(lines) == 1, f"expected one log line for the plaintext client, got {lines}"

    errors = librdkafka_errors({"bootstrap.servers": tls_broker.bootstrap}, lambda e: True)
    assert errors and errors[0].code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), errors


def test_tls_client_on_plaintext_port(tmp_path):
    """A TLS ClientHello to a PLAINTEXT broker: the handshake fails at once
    (no hang), the broker logs one line and keeps serving."""
    b = secure_broker(tmp_path, protocol="PLAINTEXT", mechanisms=None)
    pki = make_pki(tmp_path)
    try:
        before = log_lines(b)
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        t0 = time.monotonic()
        with pytest.raises((ssl.SSLError, ConnectionResetError, ConnectionAbortedError)):
            with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
                ctx.wrap_socket(s, server_hostname="127.0.0.1")
        assert time.monotonic() - t0 < 5
        lines = new_log_lines(b, before)
        assert len(lines) == 1, f"expected one log line for the TLS client, got {lines}"

        errors = librdkafka_errors({"bootstrap.servers": b.bootstrap, "security.protocol": "SSL",
                                    "ssl.ca.location": str(pki.ca)}, lambda e: True)
        assert errors and errors[0].code() in (KafkaError._SSL, KafkaError._TRANSPORT), errors
        c = RawClient(b)
        try:
            assert 18 in c.api_versions()
        finally:
            c.close()
    finally:
        b.cleanup()


@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"], ids=["nothing", "half-hello"])
def test_stalled_tls_handshake_is_cut(tmp_path, sent):
    """A client that opens the TLS port and stalls (nothing, or the start of
    a ClientHello) is disconnected once SKIFF_FRAME_READ_TIMEOUT_MS (here
    1 s) passes, with one log line, while another client is served."""
    b = secure_broker(tmp_path, pki=make_pki(tmp_path), bootstrap=(ALICE, "SCRAM-SHA-512", ALICE_PW),
                      SKIFF_FRAME_READ_TIMEOUT_MS=1000)
    try:
        before = log_lines(b)
        with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
            s.sendall(sent)
            assert raw_login(b, "SCRAM-SHA-512", ALICE, ALICE_PW) == (0, None)
            t0 = time.monotonic()
            assert closed_within(s, 5), "a stalled TLS handshake was not cut within 5 s"
            assert time.monotonic() - t0 < 3
        lines = new_log_lines(b, before, settle=0.3)
        assert len(lines) == 1 and "TLS handshake" in lines[0], lines
    finally:
        b.cleanup()


# ------------------------------------------------------- settings at start


def run_broker_expecting_refusal(tmp_path, env):
    import os

    full = dict(os.environ, RUST_LOG="info", **env)
    r = subprocess.run(
        [BROKER_BIN, "--listener-url", "tcp://127.0.0.1:0", "--storage-engine", f"sqlite://{tmp_path / 'skiff.db'}"],
        capture_output=True, text=True, timeout=15, env=full,
    )
    return r.returncode, [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize("case", ["no-cert", "unknown-mechanism", "missing-key", "garbage-key", "other-key",
                                  "bad-bootstrap-user"])
def test_bad_settings_stop_start_up_naming_the_setting(tmp_path, case):
    """A bad combination stops start-up (non-zero exit) with a line naming
    the setting, without quoting the key or the bootstrap verifier."""
    pki, other = make_pki(tmp_path), make_pki(tmp_path, label="other")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    tls = {"SKIFF_SECURITY_PROTOCOL": "SASL_SSL", "SKIFF_TLS_CERT_FILE": str(pki.cert),
           "SKIFF_TLS_KEY_FILE": str(pki.key)}
    verifier = bootstrap_user("admin", "SCRAM-SHA-512", "pw")
    env, setting = {
        "no-cert": ({"SKIFF_SECURITY_PROTOCOL": "SASL_SSL"}, "SKIFF_TLS_CERT_FILE"),
        "unknown-mechanism": ({"SKIFF_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                               "SKIFF_SASL_ENABLED_MECHANISMS": "SCRAM-SHA-256,SCRAM-SHA-1"},
                              "SKIFF_SASL_ENABLED_MECHANISMS"),
        "missing-key": ({**tls, "SKIFF_TLS_KEY_FILE": str(tmp_path / "nope.key")}, "SKIFF_TLS_KEY_FILE"),
        "garbage-key": ({**tls, "SKIFF_TLS_KEY_FILE": str(garbage)}, "SKIFF_TLS_KEY_FILE"),
        "other-key": ({**tls, "SKIFF_TLS_KEY_FILE": str(other.key)}, "SKIFF_TLS_KEY_FILE"),
        "bad-bootstrap-user": ({**tls, "SKIFF_BOOTSTRAP_USER": verifier.replace("iterations=4096", "iterations=12")},
                               "SKIFF_BOOTSTRAP_USER"),
    }[case]
    rc, lines = run_broker_expecting_refusal(tmp_path, env)
    assert rc != 0, f"broker started with {case}: {lines}"
    naming = [line for line in lines if setting in line]
    assert len(naming) == 1, f"expected one line naming {setting}, got: {lines}"
    text = "\n".join(lines)
    assert "not base64 at all" not in text and other.key.read_text().splitlines()[1] not in text
    assert verifier.split(",")[1] not in text, "the bootstrap verifier is echoed"
    assert "panicked" not in text


@pytest.mark.parametrize("protocol", ["SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_each_protocol_healthcheck_and_round_trip(tmp_path, protocol):
    """`skiff-broker healthcheck` answers on every protocol (the fixture's
    start waits for it), and a confluent-kafka client configured for that
    protocol produces and reads back."""
    pki = make_pki(tmp_path) if "SSL" in protocol else None
    sasl = protocol.startswith("SASL")
    b = secure_broker(tmp_path, protocol=protocol, pki=pki, mechanisms="SCRAM-SHA-256" if sasl else None,
                      bootstrap=(ALICE, "SCRAM-SHA-256", ALICE_PW) if sasl else None)
    try:
        import os

        r = subprocess.run([BROKER_BIN, "--listener-url", b.url, "healthcheck", "--timeout", "2"],
                           capture_output=True, text=True, env={**os.environ, **b.extra_env})
        assert r.returncode == 0, r.stderr
        conf = ck_conf(b, ALICE, ALICE_PW, "SCRAM-SHA-256")
        topic = unique("proto")
        ck_create_topic(conf, topic)
        ck_produce(conf, topic, [b"one", b"two"])
        c = Consumer({**conf, "group.id": unique("g"), "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            got = [m.value() for m in c.consume(2, timeout=10)]
        finally:
            c.close()
        assert got == [b"one", b"two"]
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


# --------------------------------------------------------- certificate reload


def served_leaf(b, timeout=5.0):
    """The DER of the leaf certificate a new TLS connection is shown."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", b.port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def replace_file(dst, src_bytes):
    tmp = dst.with_suffix(".new")
    tmp.write_bytes(src_bytes)
    tmp.chmod(0o600)
    tmp.replace(dst)


def test_certificate_reload_on_sighup(tmp_path):
    """Replace the certificate and key files (another CA), SIGHUP: new
    connections get the new certificate (clients trusting the new CA log in,
    clients trusting only the old one fail verification). A replacement whose
    key does not match keeps the current certificate. No key material in the
    log."""
    live = tmp_path / "live"
    live.mkdir()
    first, second = make_pki(tmp_path, label="first"), make_pki(tmp_path, label="second")
    cert, key = live / "server.pem", live / "server.key"
    replace_file(cert, first.cert.read_bytes())
    replace_file(key, first.key.read_bytes())
    b = secure_broker(tmp_path, pki=Pki(ca=first.ca, cert=cert, key=key, leaf_der=first.leaf_der),
                      bootstrap=(ALICE, "SCRAM-SHA-512", ALICE_PW))
    try:
        assert served_leaf(b) == first.leaf_der
        held = SaslRawClient(b)  # an established connection across the reload
        assert held.login("SCRAM-SHA-512", ALICE, ALICE_PW) == (0, None)

        replace_file(cert, second.cert.read_bytes())
        replace_file(key, second.key.read_bytes())
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while served_leaf(b) != second.leaf_der:
            assert time.monotonic() < deadline, "still the old certificate 5 s after SIGHUP"
            time.sleep(0.1)
        assert raw_login_with_ca(b, second.ca) == (0, None)
        with pytest.raises(ssl.SSLCertVerificationError):
            raw_login_with_ca(b, first.ca)
        topic = unique("reload")
        ck_create_topic(ck_conf(b, ALICE, ALICE_PW, ca=second.ca), topic)
        assert held.metadata_topics([topic]) == {topic: (0, 1)}, "the connection made before the reload broke"
        held.close()

        # A key that does not belong to the certificate: refused, the second
        # certificate stays in force.
        replace_file(cert, first.cert.read_bytes())
        b.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert served_leaf(b) == second.leaf_der
        assert b.proc.poll() is None, "the broker exited on a bad reload"
        text = log_text_of(b)
        for pki in (first, second):
            body = pki.key.read_text().splitlines()[1]
            assert body not in text, "private key material in the broker's log"
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


def raw_login_with_ca(b, ca):
    c = SaslRawClient(b, ca=ca)
    try:
        return c.login("SCRAM-SHA-512", ALICE, ALICE_PW)
    finally:
        c.close()
