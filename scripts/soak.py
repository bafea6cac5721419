"""Soak: 100 producers and 100 consumers (200 connections) on one broker for
a bounded time; prints the broker's peak RSS (target <= 64 MiB), its RSS
after the load, and what went through. With --hostile, the soak runs twice
on fresh brokers, the second time while `hostile.py` cycles through its
attacks, and prints the legitimate throughput under attack as a share of
the unattacked run (target >= 80%).
Usage: scripts/soak [--hostile] [SECONDS]"""

import os
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from launcher import Broker, status_kb

PRODUCERS = 100
CONSUMERS = 100
PARTITIONS = 10


def main():
    args = sys.argv[1:]
    hostile = "--hostile" in args
    args = [a for a in args if a != "--hostile"]
    binary = args[0]
    seconds = float(args[1]) if len(args) > 1 else 30
    if not hostile:
        soak(binary, seconds, attacked=False)
        return
    quiet = soak(binary, seconds, attacked=False)
    attacked = soak(binary, seconds, attacked=True)
    for what, i in (("produced", 0), ("consumed", 1)):
        share = attacked[i] / quiet[i] * 100 if quiet[i] else 0.0
        print(f"under attack: {share:.0f}% of the unattacked records {what} (target >= 80%)")
    print(f"under attack: broker peak RSS {attacked[2] / 1024:.1f} MiB (target <= 64)")


def soak(binary, seconds, attacked):
    """One soak on a fresh broker: (produced, consumed, peak RSS KiB)."""
    with Broker(binary, prefix="skiff-soak-") as broker:
        bootstrap = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for name in ("soak", "soak-idle", "soak-hostile"):
            admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result()
        attacker = None
        if attacked:
            # Its own process at a lower priority: on the real endpoint the
            # attacker's CPU is its own, here it shares two cores with the
            # legitimate clients. It writes its records (the gzip bomb, the
            # lying headers) to its own topic: what it may write where is
            # an authorization question (ACLs), not what this soak measures.
            attacker = subprocess.Popen(
                [sys.executable, os.path.join(os.path.dirname(__file__), "hostile.py"),
                 str(broker.port), "soak-hostile", str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=lambda: os.nice(10),
            )
        stop = threading.Event()
        produced = [0]
        consumed = [0]
        lock = threading.Lock()

        def produce(i):
            p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
            payload = os.urandom(512)
            n = 0
            while not stop.is_set():
                try:
                    p.produce("soak", payload, partition=i % PARTITIONS)
                    n += 1
                except BufferError:
                    p.poll(0.05)
                p.poll(0.002)
            p.flush(30)
            with lock:
                produced[0] += n

        def consume(i):
            c = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": f"soak-{i}",
                    "enable.auto.commit": False,
                    "fetch.max.bytes": 1048576,
                }
            )
            c.assign([TopicPartition("soak", i % PARTITIONS, 0)])
            n = 0
            while not stop.is_set():
                n += len(c.consume(1000, timeout=0.5))
            c.close()
            with lock:
                consumed[0] += n

        threads = [threading.Thread(target=produce, args=(i,)) for i in range(PRODUCERS)]
        threads += [threading.Thread(target=consume, args=(i,)) for i in range(CONSUMERS)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        summary = attacker.communicate(timeout=120)[0].strip() if attacker else ""
        for t in threads:
            t.join()
        peak = status_kb(broker.pid, "VmHWM")
        time.sleep(11)
        after = status_kb(broker.pid, "VmRSS")
        label = "soak under attack" if attacked else "soak"
        print(
            f"{label}: {PRODUCERS} producers + {CONSUMERS} consumers for {seconds:.0f} s: "
            f"{produced[0]:,} records produced, {consumed[0]:,} consumed"
        )
        print(f"broker RSS: peak {peak / 1024:.1f} MiB (target <= 64), {after / 1024:.1f} MiB 11 s after the load")
        if summary:
            print(summary)
        broker.stop()
        return produced[0], consumed[0], peak


if __name__ == "__main__":
    main()
