"""Broker benchmark driven by librdkafka; see scripts/bench."""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from launcher import Broker, cpu_seconds, status_kb

MB = 1_000_000


def main():
    binary = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    with Broker(binary, prefix="skiff-bench-") as broker:
        bootstrap = broker.bootstrap
        time.sleep(0.5)
        idle_rss = status_kb(broker.pid, "VmRSS")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("bench", 1, 1)])["bench"].result()

        payload = os.urandom(size)
        producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
            "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 2_000_000,
        })
        failures = []
        def report(err, _msg):
            if err is not None:
                failures.append(err)
        cpu0 = cpu_seconds(broker.pid)
        t0 = time.perf_counter()
        for i in range(records):
            while True:
                try:
                    producer.produce("bench", payload, partition=0, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.01)
            if i % 10000 == 0:
                producer.poll(0)
        producer.flush(120)
        produce_s = time.perf_counter() - t0
        produce_cpu = cpu_seconds(broker.pid) - cpu0
        if failures:
            raise SystemExit(f"{len(failures)} produce failures, first: {failures[0]}")

        consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "bench",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 1048576,
        })
        consumer.assign([TopicPartition("bench", 0, 0)])
        cpu0 = cpu_seconds(broker.pid)
        t0 = time.perf_counter()
        got = 0
        while got < records:
            for m in consumer.consume(10000, timeout=5):
                if m.error():
                    raise SystemExit(f"consume error: {m.error()}")
                got += 1
            if time.perf_counter() - t0 > 300:
                raise SystemExit(f"consumed only {got} of {records}")
        consume_s = time.perf_counter() - t0
        consume_cpu = cpu_seconds(broker.pid) - cpu0
        consumer.close()
        peak_rss = status_kb(broker.pid, "VmHWM")
        time.sleep(11)  # the broker hands freed memory back every 10 s
        after_rss = status_kb(broker.pid, "VmRSS")

        broker.stop()
        payload_mb = records * size / MB
        db_bytes = os.path.getsize(broker.db)
        print(f"records: {records} x {size} B = {payload_mb:.1f} MB payload")
        print(f"produce: {records / produce_s:,.0f} records/s, {payload_mb / produce_s:.1f} MB/s, "
              f"broker CPU {produce_cpu:.2f} s = {produce_cpu / payload_mb:.5f} CPU-s/MB")
        print(f"consume: {records / consume_s:,.0f} records/s, {payload_mb / consume_s:.1f} MB/s, "
              f"broker CPU {consume_cpu:.2f} s = {consume_cpu / payload_mb:.5f} CPU-s/MB")
        print(f"RSS: idle {idle_rss / 1024:.1f} MiB, peak {peak_rss / 1024:.1f} MiB, "
              f"after load {after_rss / 1024:.1f} MiB")
        print(f"database: {db_bytes / MB:.1f} MB = {db_bytes / (records * size):.3f} x payload")


if __name__ == "__main__":
    main()
