"""Fetch-session benchmark (KIP-227) driven by kafka-python, which uses
incremental fetch sessions; see scripts/bench.

One consumer assigned all 1,000 partitions of a topic while a producer
sends 10 records a second to each of 10 of them; the broker's CPU over
SECONDS (from /proc/PID/stat) and the consumer's record count, once with
sessions off (SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS=0: every Fetch
lists and answers all 1,000 partitions) and once with sessions on.
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


def run(binary, seconds, slots):
    os.environ["SKIFF_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS"] = str(slots)
    with Broker(binary, prefix="skiff-sessions-", security=SECURITY) as b:
        admin = AdminClient(b.client)
        admin.create_topics([NewTopic("wide", PARTITIONS, 1)])["wide"].result(30)
        c = KafkaConsumer(**bench_security.kafka_python(b.client), group_id=None, enable_auto_commit=False,
                          auto_offset_reset="latest")
        c.assign([KTP("wide", p) for p in range(PARTITIONS)])
        c.poll(timeout_ms=2000)  # positions, the first (full) fetch
        stop = threading.Event()

        def produce():
            p = Producer({**b.client, "linger.ms": 5})
            while not stop.is_set():
                for part in range(BUSY):
                    p.produce("wide", b"x" * 100, partition=part * (PARTITIONS // BUSY))
                p.poll(0)
                time.sleep(1 / RATE)
            p.flush(10)

        t = threading.Thread(target=produce)
        t.start()
        received = 0
        cpu0 = cpu_seconds(b.pid)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for recs in c.poll(timeout_ms=200).values():
                received += len(recs)
        cpu = cpu_seconds(b.pid) - cpu0
        stop.set()
        t.join()
        c.close()
        return cpu, received


def main():
    binary = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    off_cpu, off_n = run(binary, seconds, 0)
    on_cpu, on_n = run(binary, seconds, 1000)
    per_min = 60 / seconds
    print(f"security: {SECURITY}")
    print(f"fetch sessions, one kafka-python consumer of {PARTITIONS} partitions, {BUSY} receiving "
          f"{RATE} records/s each, {seconds:.0f} s:")
    print(f"  sessions off: broker {off_cpu * per_min:.2f} CPU-s per minute ({off_n} records consumed)")
    print(f"  sessions on:  broker {on_cpu * per_min:.2f} CPU-s per minute ({on_n} records consumed)")
    if on_cpu > 0:
        print(f"  {off_cpu / on_cpu:.1f}x less broker CPU with sessions")


if __name__ == "__main__":
    main()
