"""Consumer-group benchmark driven by librdkafka; see scripts/bench.

Prints (1) the time from subscribe() to the first record for a consumer with
librdkafka's default settings (only group.id and auto.offset.reset=earliest
set) on an existing topic with data, over several fresh groups; and (2) the
broker CPU used over 60 s by 100 idle consumers (20 groups of 5 on a
5-partition topic) once their groups are stable, from /proc/PID/stat: once
with librdkafka's defaults (a Fetch long poll every 500 ms per consumer, a
heartbeat every 3 s) and once with 30 s long polls, where heartbeats are
most of what is left.
Usage: python scripts/bench-groups.py BROKER_BINARY [IDLE_SECONDS]"""
import os
import statistics
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from launcher import Broker, cpu_seconds

GROUPS = 20
SECURITY = os.environ.get("SKIFF_BENCH_SECURITY", "PLAINTEXT")
PER_GROUP = 5
RUNS = 5


def time_to_first_record(client, topic, group):
    c = Consumer({**client, "group.id": group, "auto.offset.reset": "earliest"})
    t0 = time.perf_counter()
    c.subscribe([topic])
    try:
        while time.perf_counter() - t0 < 60:
            m = c.poll(0.01)
            if m is not None and not m.error():
                return time.perf_counter() - t0
        raise SystemExit(f"no record within 60 s for group {group}")
    finally:
        c.close()


def idle_phase(broker, client, idle_s, extra, label):
    """100 consumers in 20 groups on the idle topic; once every group is
    stable, the broker CPU over idle_s."""
    consumers = []
    try:
        for g in range(GROUPS):
            for _ in range(PER_GROUP):
                conf = {**client, "group.id": f"idle-{g}", "auto.offset.reset": "earliest"}
                conf.update(extra)
                c = Consumer(conf)
                c.subscribe(["idle"])
                consumers.append(c)
        deadline = time.time() + 120
        while time.time() < deadline:
            for c in consumers:
                c.poll(0)
            if all(c.assignment() for c in consumers):
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the idle groups did not all stabilise within 120 s")
        time.sleep(5)  # let the last rebalances settle
        cpu0 = cpu_seconds(broker.pid)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < idle_s:
            for c in consumers:
                c.poll(0)
            time.sleep(1)
        cpu = cpu_seconds(broker.pid) - cpu0
        elapsed = time.perf_counter() - t0
        print(
            f"idle: {len(consumers)} consumers in {GROUPS} groups, {label}: broker CPU {cpu:.2f} s "
            f"over {elapsed:.0f} s = {100 * cpu / elapsed:.2f}% of one core"
        )
    finally:
        for c in consumers:
            c.close()


def main():
    binary = sys.argv[1]
    idle_s = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    with Broker(binary, prefix="skiff-bench-groups-", security=SECURITY) as broker:
        client = broker.client
        print(f"security: {SECURITY}")
        admin = AdminClient(client)
        futures = admin.create_topics([NewTopic("ttfr", 1, 1), NewTopic("idle", PER_GROUP, 1)])
        for f in futures.values():
            f.result()
        p = Producer(client)
        for i in range(1000):
            p.produce("ttfr", b"record %d" % i)
        p.flush(30)

        times = [time_to_first_record(client, "ttfr", f"ttfr-{i}") for i in range(RUNS)]
        print(
            f"time to first record after subscribe (librdkafka defaults, {RUNS} fresh groups): "
            f"median {statistics.median(times):.3f} s, max {max(times):.3f} s"
        )
        idle_phase(broker, client, idle_s, {}, "librdkafka defaults (heartbeat 3 s, fetch long poll 500 ms)")
        idle_phase(broker, client, idle_s, {"fetch.wait.max.ms": 30000}, "fetch long poll 30 s (mostly heartbeats)")


if __name__ == "__main__":
    main()
