"""The Kafka client side of scripts/test-docker, run from the host against the
broker container with confluent-kafka (librdkafka).

    python docker_e2e_client.py BOOTSTRAP STATE_FILE STEP

STEP is one of:
  apis       print whether the broker serves consumer groups (ApiVersions v0
             lists FindCoordinator, JoinGroup, OffsetCommit and OffsetFetch)
  metadata   print the broker addresses Metadata gives clients (host:port)
  produce    create the topic if missing, produce a new batch of records,
             then consume: by group (committing part way) when groups are
             served, else by assign(); remember what was written in STATE_FILE
  verify     read every partition from the beginning and compare with
             STATE_FILE record by record; with groups, check the committed
             offsets and that the group resumes where it committed
Exits non-zero with one line on stderr on any mismatch.
"""

import json
import os
import socket
import struct
import sys

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "skiff-e2e"
PARTITIONS = 3
GROUP = "skiff-e2e-group"
PER_ROUND = 600
GROUP_APIS = {10: "FindCoordinator", 11: "JoinGroup", 8: "OffsetCommit", 9: "OffsetFetch"}


def fail(msg):
    print(f"docker_e2e_client: {msg}", file=sys.stderr)
    sys.exit(1)


def api_keys(bootstrap):
    """The API keys the broker advertises, from a raw ApiVersions v0."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"skiff-e2e"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                fail("ApiVersions: connection closed")
            buf += chunk
    corr, err, n = struct.unpack(">ihi", buf[4:14])
    if corr != 7 or err != 0:
        fail(f"ApiVersions: correlation {corr}, error {err}")
    return {struct.unpack(">hhh", buf[14 + 6 * i : 20 + 6 * i])[0] for i in range(n)}


def groups_served(bootstrap):
    return set(GROUP_APIS) <= api_keys(bootstrap)


def load(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"records": {str(p): [] for p in range(PARTITIONS)}, "rounds": 0, "committed": None}


def save(path, state):
    with open(path, "w") as f:
        json.dump(state, f)


def create_topic(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if TOPIC in admin.list_topics(timeout=10).topics:
        return
    fut = admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
    fut[TOPIC].result(timeout=15)


def read_all(bootstrap):
    """Every record of every partition, by assign() from the beginning."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused-assign-only",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    got = {str(p): [] for p in range(PARTITIONS)}
    eof = set()
    while len(eof) < PARTITIONS:
        msgs = c.consume(500, timeout=10)
        if not msgs:
            fail(f"read_all: no progress (eof on {sorted(eof)})")
        for m in msgs:
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    eof.add(m.partition())
                    continue
                fail(f"read_all: {m.error()}")
            expect = len(got[str(m.partition())])
            if m.offset() != expect:
                fail(f"partition {m.partition()}: offset {m.offset()}, expected {expect}")
            got[str(m.partition())].append(m.value().decode())
    c.close()
    return got


def produce(bootstrap, state_path):
    state = load(state_path)
    create_topic(bootstrap)
    rnd = state["rounds"]
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    delivered = []

    def on_delivery(err, msg):
        if err is not None:
            fail(f"delivery failed: {err}")
        delivered.append((msg.partition(), msg.offset(), msg.value().decode()))

    for i in range(PER_ROUND):
        p.produce(
            TOPIC,
            key=str(i).encode(),
            value=f"round{rnd}-record{i}".encode(),
            partition=i % PARTITIONS,
            on_delivery=on_delivery,
        )
        p.poll(0)
    if p.flush(30) != 0:
        fail("producer did not flush in 30 s")
    if len(delivered) != PER_ROUND:
        fail(f"{len(delivered)} of {PER_ROUND} delivered")
    for part, off, value in sorted(delivered):
        recs = state["records"][str(part)]
        if off != len(recs):
            fail(f"partition {part}: record at offset {off}, expected {len(recs)}")
        recs.append(value)
    state["rounds"] = rnd + 1
    save(state_path, state)

    if groups_served(bootstrap):
        # Consume by group and commit part way: half of what the group has
        # not consumed yet, so a resumed consumer has something left to read.
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": GROUP,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        c.subscribe([TOPIC])
        start = state["committed"] or {str(p): 0 for p in range(PARTITIONS)}
        total = {k: len(v) for k, v in state["records"].items()}
        want = {k: start[k] + (total[k] - start[k]) // 2 for k in total}
        pos = dict(start)
        while any(pos[k] < want[k] for k in want):
            m = c.poll(15)
            if m is None:
                fail(f"group consume: no progress at {pos}, want {want}")
            if m.error():
                fail(f"group consume: {m.error()}")
            k = str(m.partition())
            if pos[k] >= want[k]:
                continue
            if m.offset() != pos[k] or m.value().decode() != state["records"][k][pos[k]]:
                fail(f"group consume: partition {k} offset {m.offset()}, expected {pos[k]}")
            pos[k] += 1
        c.commit(offsets=[TopicPartition(TOPIC, int(k), v) for k, v in want.items()], asynchronous=False)
        c.close()
        state["committed"] = want
        save(state_path, state)
        print(f"produced {PER_ROUND}; consumed by group {GROUP}, committed {want}")
    else:
        got = read_all(bootstrap)
        if got != state["records"]:
            fail("records read back differ from those produced")
        print(
            f"produced {PER_ROUND}; consumed all {sum(map(len, got.values()))} by assign() (no consumer groups served)"
        )


def verify(bootstrap, state_path):
    state = load(state_path)
    got = read_all(bootstrap)
    for k, want in state["records"].items():
        if got[k] != want:
            fail(f"partition {k}: {len(got[k])} records read, {len(want)} expected, or contents differ")
    n = sum(map(len, got.values()))
    if state["committed"] is None:
        print(f"all {n} records intact")
        return
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=15)
    committed = {str(tp.partition): tp.offset for tp in tps}
    if committed != state["committed"]:
        fail(f"committed offsets {committed}, expected {state['committed']}")
    # The group resumes at the committed offsets: the first record it gets on
    # each partition is the one at the committed offset.
    c.subscribe([TOPIC])
    first = {}
    pending = {k for k in committed if committed[k] < len(state["records"][k])}
    while pending - set(first):
        m = c.poll(15)
        if m is None:
            fail(f"group resume: nothing from {sorted(pending - set(first))}")
        if m.error():
            fail(f"group resume: {m.error()}")
        first.setdefault(str(m.partition()), m.offset())
    c.close()
    for k in pending:
        if first[k] != committed[k]:
            fail(f"group resumed partition {k} at {first[k]}, committed {committed[k]}")
    print(f"all {n} records intact; committed offsets {committed} kept; group resumes there")


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    bootstrap, state_path, step = sys.argv[1:]
    try:
        if step == "apis":
            print("groups" if groups_served(bootstrap) else "no-groups")
        elif step == "metadata":
            md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
            print(" ".join(sorted(f"{b.host}:{b.port}" for b in md.brokers.values())))
        elif step == "produce":
            produce(bootstrap, state_path)
        elif step == "verify":
            verify(bootstrap, state_path)
        else:
            fail(f"unknown step {step}")
    except KafkaException as e:
        fail(f"{step}: {e}")


if __name__ == "__main__":
    main()
