"""Fetch-session benchmark (KIP-227) driven by kafka-python, which uses
incremental fetch sessions; see scripts/bench.

A producer sends one record a second to each of 10 partitions of a
1,000-partition topic (one request a second); the broker's CPU over SECONDS
(from /proc/PID/stat) is measured three times: with the producer alone,
then with one consumer assigned all 1,000 partitions, with sessions off
(SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS=0: every Fetch lists and
answers all 1,000 partitions) and on. Printed: the totals and the
consumer's share (total minus the producer-alone run).
Usage: python scripts/bench-sessions.py BROKER_BINARY [SECONDS]"""
import os
import sys
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KTP

import bench_security
from launcher import Broker, cpu_seconds

PARTITIONS = 1000
BUSY = 10
RATE = 1  # records per second per busy partition (sent together)
SECURITY = os.environ.get("SKIFF_BENCH_SECURITY", "PLAINTEXT")


def run(binary, seconds, slots, consume=True):
    os.environ["SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS"] = str(slots)
    with Broker(binary, prefix="skiff-sessions-", security=SECURITY) as b:
        admin = AdminClient(b.client)
        admin.create_topics([NewTopic("wide", PARTITIONS, 1)])["wide"].result(30)
        c = None
        if consume:
            c = KafkaConsumer(**bench_security.kafka_python(b.client), group_id=None,
                              enable_auto_commit=False, auto_offset_reset="latest")
            c.assign([KTP("wide", p) for p in range(PARTITIONS)])
            c.poll(timeout_ms=2000)  # positions, the first (full) fetch
        stop = threading.Event()

        def produce():
            p = Producer({**b.client, "linger.ms": 5})
            while not stop.is_set():
                for part in range(BUSY):
                    p.produce("wide", b"x" * 100, partition=part * (PARTITIONS // BUSY))
                p.poll(0)
                stop.wait(1 / RATE)
            p.flush(10)

        t = threading.Thread(target=produce)
        t.start()
        received = 0
        cpu0 = cpu_seconds(b.pid)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if c is None:
                time.sleep(0.2)
                continue
            for recs in c.poll(timeout_ms=200).values():
                received += len(recs)
        cpu = cpu_seconds(b.pid) - cpu0
        stop.set()
        t.join()
        if c is not None:
            c.close()
        return cpu, received


def main():
    binary = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    base_cpu, _ = run(binary, seconds, 1000, consume=False)
    off_cpu, off_n = run(binary, seconds, 0)
    on_cpu, on_n = run(binary, seconds, 1000)
    per_min = 60 / seconds
    print(f"security: {SECURITY}")
    print(f"fetch sessions, one kafka-python consumer of {PARTITIONS} partitions, {BUSY} receiving "
          f"{RATE} record/s each, {seconds:.0f} s per run (broker CPU-s per minute):")
    print(f"  producer alone: {base_cpu * per_min:.3f}")
    print(f"  sessions off:   {off_cpu * per_min:.3f} in all, consumer's share "
          f"{(off_cpu - base_cpu) * per_min:.3f} ({off_n} records consumed)")
    print(f"  sessions on:    {on_cpu * per_min:.3f} in all, consumer's share "
          f"{(on_cpu - base_cpu) * per_min:.3f} ({on_n} records consumed)")
    if on_cpu > 0 and on_cpu > base_cpu:
        print(f"  with sessions: {off_cpu / on_cpu:.1f}x less in all, "
              f"{(off_cpu - base_cpu) / (on_cpu - base_cpu):.1f}x less for the consumer")


if __name__ == "__main__":
    main()
