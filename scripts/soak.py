"""Soak: 100 producers and 100 consumers (200 connections) on one broker for
a bounded time; prints the broker's peak RSS (target <= 64 MiB), its RSS
after the load, and what went through. Usage: scripts/soak [SECONDS]"""

import os
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
    binary = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    with Broker(binary, prefix="skiff-soak-") as broker:
        bootstrap = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("soak", PARTITIONS, 1)])["soak"].result()
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
        for t in threads:
            t.join()
        peak = status_kb(broker.pid, "VmHWM")
        time.sleep(11)
        after = status_kb(broker.pid, "VmRSS")
        print(
            f"soak: {PRODUCERS} producers + {CONSUMERS} consumers for {seconds:.0f} s: "
            f"{produced[0]:,} records produced, {consumed[0]:,} consumed"
        )
        print(f"broker RSS: peak {peak / 1024:.1f} MiB (target <= 64), {after / 1024:.1f} MiB 11 s after the load")
        broker.stop()


if __name__ == "__main__":
    main()
