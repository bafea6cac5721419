"""kcat 1.7.1 on librdkafka 2.0.2 (Debian's): an older client, as a
strictness check of the broker's protocol handling."""

import json
import shutil
import subprocess

import pytest

from helpers import consume_n, create_topic, produce_ok, producer

KCAT = shutil.which("kcat") or "/usr/bin/kcat"


def kcat(broker, *args, stdin=None, timeout=60):
    r = subprocess.run(
        [KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
    )
    assert r.returncode == 0, f"kcat {args} exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}"
    return r


def test_kcat_version_is_the_old_librdkafka():
    out = subprocess.run([KCAT, "-V"], capture_output=True, text=True, check=True).stdout
    assert "librdkafka 2.0.2" in out, out


def test_kcat_metadata(broker, topic_name):
    create_topic(broker, topic_name, partitions=3)
    out = kcat(broker, "-L", "-J").stdout
    md = json.loads(out)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(0, f"127.0.0.1:{broker.port}")]
    (t,) = [t for t in md["topics"] if t["topic"] == topic_name]
    assert [p["partition"] for p in t["partitions"]] == [0, 1, 2]
    for p in t["partitions"]:
        assert p["leader"] == 0 and [r["id"] for r in p["replicas"]] == [0]
    plain = kcat(broker, "-L", "-t", topic_name).stdout.decode()
    assert f'topic "{topic_name}" with 3 partitions' in plain


def test_kcat_produce_with_keys_and_headers_then_consume(broker, topic_name):
    """kcat -P -K: -H produces keyed records with headers; kcat -C reads them
    back, and so does confluent-kafka, byte-exact."""
    create_topic(broker, topic_name)
    lines = [f"key{i}:value {i} with spaces" for i in range(20)]
    kcat(
        broker,
        "-P",
        "-t",
        topic_name,
        "-p",
        "0",
        "-K:",
        "-H",
        "origin=kcat",
        "-H",
        "n=two",
        stdin=("\n".join(lines) + "\n").encode(),
    )
    out = kcat(broker, "-C", "-t", topic_name, "-o", "beginning", "-e", "-J").stdout.decode()
    recs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [(r["partition"], r["offset"], r["key"], r["payload"]) for r in recs] == [
        (0, i, f"key{i}", f"value {i} with spaces") for i in range(20)
    ]
    for r in recs:
        assert r["headers"] == ["origin", "kcat", "n", "two"]

    got = consume_n(broker, topic_name, 20)
    assert [(m.key(), m.value(), m.headers()) for m in got] == [
        (f"key{i}".encode(), f"value {i} with spaces".encode(), [("origin", b"kcat"), ("n", b"two")]) for i in range(20)
    ]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "zstd"])
def test_kcat_consumes_compressed_batches_from_confluent(shared_broker, topic_name, codec):
    """Records compressed by confluent-kafka (librdkafka 2.16) read back by
    kcat (librdkafka 2.0.2) with -C -o beginning -e, keys included."""
    broker = shared_broker
    create_topic(broker, topic_name, partitions=2)
    records = [
        {"partition": i % 2, "key": b"k%d" % i, "value": b"compressed by confluent %d " % i * 10} for i in range(100)
    ]
    produce_ok(producer(broker, **{"compression.type": codec, "linger.ms": 50}), topic_name, records)
    out = kcat(broker, "-C", "-t", topic_name, "-o", "beginning", "-e", "-J").stdout.decode()
    recs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(recs) == 100
    for part in (0, 1):
        got = sorted([r for r in recs if r["partition"] == part], key=lambda r: r["offset"])
        sent = [r for r in records if r["partition"] == part]
        assert [r["offset"] for r in got] == list(range(50))
        assert [(r["key"].encode(), r["payload"].encode()) for r in got] == [(s["key"], s["value"]) for s in sent]


def test_kcat_compressed_produce(broker, topic_name):
    """kcat producing with -z gzip; confluent-kafka reads it back."""
    create_topic(broker, topic_name)
    lines = [f"gz-{i} " * 20 for i in range(50)]
    kcat(broker, "-P", "-t", topic_name, "-z", "gzip", stdin=("\n".join(lines) + "\n").encode())
    got = consume_n(broker, topic_name, 50)
    assert [m.value().decode() for m in got] == lines


def test_kcat_consume_from_offset_and_end(broker, topic_name):
    """-o 7 -c 3 reads offsets 7..9; -o -2 reads the last two."""
    create_topic(broker, topic_name)
    produce_ok(producer(broker), topic_name, [{"value": b"v%d" % i} for i in range(10)])
    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "7", "-c", "3", "-f", "%o=%s\n").stdout.decode()
    assert out.split() == ["7=v7", "8=v8", "9=v9"]
    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "-2", "-e", "-f", "%o=%s\n").stdout.decode()
    assert out.split() == ["8=v8", "9=v9"]
