"""Consumer groups with real clients: subscribe/consume/commit/resume with
confluent-kafka and kafka-python, rebalances with three members under load
(one killed without LeaveGroup), cooperative-sticky, static membership and
the admin group APIs."""

import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from helpers import create_topic, produce_ok, producer


def values_of(msgs):
    return [m.value() for m in msgs]


def group_consumer(broker, group, **conf):
    c = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 100,
        "heartbeat.interval.ms": 500,
        "session.timeout.ms": 6000,
    }
    c.update(conf)
    return Consumer(c)


def poll_n(c, n, timeout=30):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise AssertionError(f"consumer error: {m.error()}")
        out.append(m)
    assert len(out) == n, f"consumed {len(out)} of {n}"
    return out


def test_confluent_commit_resume_and_broker_restart(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    p = producer(broker)
    produce_ok(p, topic_name, [{"value": b"%d" % i} for i in range(30)])
    group = topic_name + "-g"

    c = group_consumer(broker, group)
    t0 = time.monotonic()
    c.subscribe([topic_name])
    first = poll_n(c, 1)
    assert time.monotonic() - t0 < 5
    got = first + poll_n(c, 14)
    assert values_of(got) == [b"%d" % i for i in range(15)]
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    # A new consumer of the group resumes exactly after the commit.
    c = group_consumer(broker, group)
    c.subscribe([topic_name])
    got = poll_n(c, 15)
    assert values_of(got) == [b"%d" % i for i in range(15, 30)]
    committed = c.committed([TopicPartition(topic_name, 0)], timeout=10)
    assert committed[0].offset == 15
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    broker.restart()
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i} for i in range(30, 35)])
    c = group_consumer(broker, group)
    c.subscribe([topic_name])
    got = poll_n(c, 5)
    assert values_of(got) == [b"%d" % i for i in range(30, 35)]
    assert c.poll(1.0) is None
    c.close()


def test_kafka_python_commit_resume_and_broker_restart(broker, topic_name):
    from kafka import KafkaConsumer

    create_topic(broker, topic_name, partitions=2)
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i, "partition": i % 2} for i in range(20)])
    group = topic_name + "-g"

    def kp_consumer():
        c = KafkaConsumer(
            bootstrap_servers=broker.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        c.subscribe([topic_name])
        return c

    def take(c, n, timeout=30):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=300).values():
                out.extend(recs)
        assert len(out) == n, f"kafka-python consumed {len(out)} of {n}"
        return out

    c = kp_consumer()
    got = take(c, 20)
    assert sorted(int(r.value) for r in got) == list(range(20))
    c.commit()
    c.close()

    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i, "partition": i % 2} for i in range(20, 24)])
    c = kp_consumer()
    got = take(c, 4)
    assert sorted(int(r.value) for r in got) == list(range(20, 24))
    c.commit()
    c.close()

    broker.restart()
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i, "partition": i % 2} for i in range(24, 28)])
    c = kp_consumer()
    got = take(c, 4)
    assert sorted(int(r.value) for r in got) == list(range(24, 28))
    c.close()


CHILD = r"""
import sys, time
from confluent_kafka import Consumer
bootstrap, group, topic = sys.argv[1:4]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "heartbeat.interval.ms": 500, "session.timeout.ms": 6000, "fetch.wait.max.ms": 100})
def on_assign(c, ps):
    print("ASSIGN", time.monotonic(), ",".join(str(p.partition) for p in ps), flush=True)
def on_revoke(c, ps):
    print("REVOKE", time.monotonic(), ",".join(str(p.partition) for p in ps), flush=True)
c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
while True:
    m = c.poll(0.2)
    if m is not None and not m.error():
        print("VALUE", m.value().decode(), flush=True)
"""


class Ownership:
    """Assignment intervals per partition and member, checked afterwards for
    overlaps (time.monotonic is the same clock in every process)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = {}  # (member, partition) -> start
        self.intervals = []  # (partition, member, start, end)

    def assign(self, member, parts, t=None):
        t = time.monotonic() if t is None else t
        with self.lock:
            for p in parts:
                self.open[(member, p)] = t

    def revoke(self, member, parts, t=None):
        t = time.monotonic() if t is None else t
        with self.lock:
            for p in parts:
                start = self.open.pop((member, p), None)
                if start is not None:
                    self.intervals.append((p, member, start, t))

    def current(self):
        with self.lock:
            out = {}
            for m, p in self.open:
                out.setdefault(m, set()).add(p)
            return out

    def overlaps(self):
        with self.lock:
            ivs = list(self.intervals) + [(p, m, s, float("inf")) for (m, p), s in self.open.items()]
        bad = []
        for i, (p, m, s, e) in enumerate(ivs):
            for p2, m2, s2, e2 in ivs[i + 1 :]:
                if p == p2 and m != m2 and s < e2 and s2 < e:
                    bad.append(((p, m, s, e), (p2, m2, s2, e2)))
        return bad


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_members_join_and_leave_under_load(broker, topic_name):
    create_topic(broker, topic_name, partitions=6)
    group = topic_name + "-g"
    own = Ownership()
    consumed = set()
    consumed_lock = threading.Lock()
    produced = []
    stop_producing = threading.Event()

    def produce_loop():
        p = producer(broker)
        i = 0
        while not stop_producing.is_set():
            p.produce(topic_name, value=b"%d" % i, partition=i % 6)
            produced.append(i)
            i += 1
            p.poll(0)
            time.sleep(0.005)
        assert p.flush(20) == 0

    class Member(threading.Thread):
        def __init__(self, name):
            super().__init__(daemon=True)
            self.name_ = name
            self.stop = threading.Event()
            self.error = None

        def run(self):
            try:
                c = group_consumer(broker, group, **{"enable.auto.commit": True, "auto.commit.interval.ms": 500})
                c.subscribe(
                    [topic_name],
                    on_assign=lambda c, ps: own.assign(self.name_, [p.partition for p in ps]),
                    on_revoke=lambda c, ps: own.revoke(self.name_, [p.partition for p in ps]),
                    on_lost=lambda c, ps: own.revoke(self.name_, [p.partition for p in ps]),
                )
                while not self.stop.is_set():
                    m = c.poll(0.1)
                    if m is not None and not m.error():
                        with consumed_lock:
                            consumed.add(int(m.value()))
                c.close()  # LeaveGroup
                own.revoke(self.name_, range(6))
            except Exception as e:  # noqa: BLE001
                self.error = e

    prod = threading.Thread(target=produce_loop, daemon=True)
    prod.start()
    a = Member("a")
    a.start()
    wait_for(lambda: own.current().get("a") == set(range(6)), 20, "a owns all partitions")
    b = Member("b")
    b.start()
    wait_for(lambda: len(own.current().get("b", ())) == 3 and len(own.current().get("a", ())) == 3, 20, "a/b split")

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, broker.bootstrap, group, topic_name],
        stdout=subprocess.PIPE,
        text=True,
    )

    def read_child():
        for line in child.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "VALUE":
                with consumed_lock:
                    consumed.add(int(rest))
            elif kind in ("ASSIGN", "REVOKE"):
                t, _, parts = rest.partition(" ")
                ps = [int(x) for x in parts.split(",") if x]
                (own.assign if kind == "ASSIGN" else own.revoke)("c", ps, float(t))

    reader = threading.Thread(target=read_child, daemon=True)
    reader.start()
    try:
        wait_for(lambda: all(len(own.current().get(m, ())) == 2 for m in "abc"), 30, "three-way split")
        b.stop.set()
        b.join(15)
        wait_for(lambda: all(len(own.current().get(m, ())) == 3 for m in "ac"), 30, "a/c split after b left")
        kill_time = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join(5)
        own.revoke("c", range(6), kill_time)
        # Detected by the session timeout (6 s): a gets everything back.
        wait_for(lambda: own.current().get("a") == set(range(6)), 30, "a owns all after c's session expired")
        stop_producing.set()
        prod.join(30)
        expected = set(produced)
        wait_for(lambda: expected <= consumed, 30, "every produced record consumed")
    finally:
        stop_producing.set()
        a.stop.set()
        a.join(15)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert a.error is None and b.error is None, (a.error, b.error)
    assert not own.overlaps(), own.overlaps()[:3]


def test_cooperative_sticky_moves_only_what_it_must(broker, topic_name):
    create_topic(broker, topic_name, partitions=4)
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i, "partition": i % 4} for i in range(40)])
    group = topic_name + "-g"
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    events = {"a": [], "b": []}
    owned = {"a": set(), "b": set()}

    def subscribe(c, name):
        def on_assign(c, ps):
            events[name].append(("assign", {p.partition for p in ps}))
            owned[name] |= {p.partition for p in ps}

        def on_revoke(c, ps):
            events[name].append(("revoke", {p.partition for p in ps}))
            owned[name] -= {p.partition for p in ps}

        c.subscribe([topic_name], on_assign=on_assign, on_revoke=on_revoke)

    a = group_consumer(broker, group, **conf)
    subscribe(a, "a")
    got = poll_n(a, 40)
    assert len(got) == 40
    assert owned["a"] == {0, 1, 2, 3}
    b = group_consumer(broker, group, **conf)
    subscribe(b, "b")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (len(owned["a"]) == 2 and len(owned["b"]) == 2):
        a.poll(0.1)
        b.poll(0.1)
    assert len(owned["a"]) == 2 and len(owned["b"]) == 2, owned
    assert owned["a"].isdisjoint(owned["b"])
    revoked = [ps for kind, ps in events["a"] if kind == "revoke" and ps]
    # Incremental: a gave up exactly the two partitions b got, nothing more.
    assert revoked == [owned["b"]], events["a"]
    b.close()
    a.close()


def test_static_member_restart_gets_its_partitions_without_rebalance(broker, topic_name):
    create_topic(broker, topic_name, partitions=4)
    group = topic_name + "-g"
    events = {"a": 0, "b": 0}
    owned = {}

    def make(name):
        c = group_consumer(broker, group, **{"group.instance.id": name, "session.timeout.ms": 10000})

        def on_assign(c, ps):
            events[name] += 1
            owned[name] = {p.partition for p in ps}

        def on_revoke(c, ps):
            events[name] += 1

        c.subscribe([topic_name], on_assign=on_assign, on_revoke=on_revoke)
        return c

    a = make("a")
    b = make("b")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (len(owned.get("a", ())) == 2 and len(owned.get("b", ())) == 2):
        a.poll(0.1)
        b.poll(0.1)
    assert len(owned["a"]) == 2 and len(owned["b"]) == 2, owned
    b_parts = owned["b"]
    a_events = events["a"]
    b.close()  # a static member sends no LeaveGroup
    owned.pop("b")
    b = make("b")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "b" not in owned:
        a.poll(0.1)
        b.poll(0.1)
    for _ in range(20):  # and nothing happens to a afterwards
        a.poll(0.1)
        b.poll(0.1)
    assert owned.get("b") == b_parts
    assert events["a"] == a_events, "the other member was rebalanced"
    a.close()
    b.close()


def test_admin_list_describe_delete_groups_and_offsets(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i, "partition": i % 2} for i in range(10)])
    group = topic_name + "-g"
    a = AdminClient({"bootstrap.servers": broker.bootstrap})

    c = group_consumer(broker, group)
    c.subscribe([topic_name])
    poll_n(c, 10)
    c.commit(asynchronous=False)

    listed = {g.group_id: g for g in a.list_consumer_groups(request_timeout=10).result().valid}
    assert group in listed
    desc = a.describe_consumer_groups([group], request_timeout=10)[group].result()
    assert desc.state.name == "STABLE"
    assert len(desc.members) == 1
    assert desc.members[0].host == "/127.0.0.1"
    assigned = {tp.partition for tp in desc.members[0].assignment.topic_partitions}
    assert assigned == {0, 1}

    # Deleting a group with members is refused.
    try:
        a.delete_consumer_groups([group], request_timeout=10)[group].result()
        raise AssertionError("deleting a non-empty group succeeded")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.NON_EMPTY_GROUP
    c.close()

    from confluent_kafka import ConsumerGroupTopicPartitions

    offsets = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert {(tp.partition, tp.offset) for tp in offsets.topic_partitions} == {(0, 5), (1, 5)}

    fut = a.delete_consumer_groups([group + "-missing"], request_timeout=10)[group + "-missing"]
    try:
        fut.result()
        raise AssertionError("deleting an unknown group succeeded")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND

    # OffsetDelete of one partition (confluent-kafka's Python API lacks it:
    # kafka-python's admin client sends it).
    from kafka import KafkaAdminClient
    from kafka import TopicPartition as KTP

    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        res = kadmin.delete_group_offsets(group, [KTP(topic_name, 0)])
        assert [e.errno for e in res.values()] == [0], res
    finally:
        kadmin.close()
    offsets = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert {(tp.partition, tp.offset) for tp in offsets.topic_partitions} == {(1, 5)}

    a.delete_consumer_groups([group], request_timeout=10)[group].result()
    listed = {g.group_id for g in a.list_consumer_groups(request_timeout=10).result().valid}
    assert group not in listed


def test_deleted_topic_takes_its_offsets(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    produce_ok(producer(broker), topic_name, [{"value": b"x"}])
    group = topic_name + "-g"
    c = group_consumer(broker, group)
    c.subscribe([topic_name])
    poll_n(c, 1)
    c.commit(asynchronous=False)
    c.close()
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.delete_topics([topic_name], operation_timeout=10)[topic_name].result()
    broker.restart()
    from confluent_kafka import ConsumerGroupTopicPartitions

    listed = {g.group_id for g in a.list_consumer_groups(request_timeout=10).result().valid}
    assert group not in listed
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic_name, 0)])])[
        group
    ].result()
    assert [tp.offset for tp in res.topic_partitions] in ([-1001], [-1])


def test_live_group_consumer_rejoins_after_broker_restart(broker, topic_name):
    """The group is gone after a restart (membership is not persisted): the
    live consumer is told UNKNOWN_MEMBER_ID, rejoins and carries on from its
    committed offset."""
    create_topic(broker, topic_name, partitions=1)
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i} for i in range(5)])
    c = group_consumer(broker, topic_name + "-g")
    c.subscribe([topic_name])
    got = poll_n(c, 5)
    c.commit(message=got[-1], asynchronous=False)
    broker.restart()
    produce_ok(producer(broker), topic_name, [{"value": b"%d" % i} for i in range(5, 10)])
    got = poll_n(c, 5, timeout=60)
    assert values_of(got) == [b"%d" % i for i in range(5, 10)]
    c.commit(message=got[-1], asynchronous=False)
    assert c.committed([TopicPartition(topic_name, 0)], timeout=10)[0].offset == 10
    c.close()


def test_kcat_balanced_consumer_resumes_from_its_commit(broker, topic_name):
    """kcat -G (librdkafka 2.0.2): joins, consumes, auto-commits on exit; a
    second run of the group starts after the commit."""
    from test_kcat import kcat

    create_topic(broker, topic_name, partitions=2)
    produce_ok(producer(broker), topic_name, [{"value": b"v%d" % i, "partition": i % 2} for i in range(6)])
    group = topic_name + "-g"
    out = kcat(broker, "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-f", "%s\\n", topic_name).stdout.decode()
    assert sorted(out.split()) == [f"v{i}" for i in range(6)]
    produce_ok(producer(broker), topic_name, [{"value": b"w%d" % i, "partition": i % 2} for i in range(4)])
    out = kcat(broker, "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-f", "%s\\n", topic_name).stdout.decode()
    assert sorted(out.split()) == [f"w{i}" for i in range(4)]
