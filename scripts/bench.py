"""Broker benchmark driven by librdkafka; see scripts/bench."""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import bench_security
from launcher import Broker, cpu_seconds, device_writes, io_counts, status_kb

MB = 1_000_000
SECURITY = os.environ.get("SKIFF_BENCH_SECURITY", "PLAINTEXT")
LOGINS = 200


def main():
    binary = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    # With RETENTION_BYTES the topic keeps only that much, enforced every
    # second, so the run deletes old batches and reuses their space.
    retention = int(sys.argv[4]) if len(sys.argv) > 4 else None
    config = {}
    if retention is not None:
        os.environ["SKIFF_RETENTION_CHECK_INTERVAL_MS"] = "1000"
        config = {"retention.bytes": str(retention)}
    with Broker(binary, prefix="skiff-bench-", security=SECURITY) as broker:
        time.sleep(0.5)
        idle_rss = status_kb(broker.pid, "VmRSS")
        admin = AdminClient(broker.client)
        admin.create_topics([NewTopic("bench", 1, 1, config=config)])["bench"].result()

        payload = os.urandom(size)
        producer = Producer({
            **broker.client, "acks": "all", "linger.ms": 5,
            "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 2_000_000,
        })
        failures = []
        def report(err, _msg):
            if err is not None:
                failures.append(err)
        io0 = io_counts(broker.pid)
        dev0 = device_writes(broker.dir)
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
            **broker.client, "group.id": "bench",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 1048576,
        })
        start = 0
        if retention is not None:
            time.sleep(2)  # the last retention pass after the produce
            start = consumer.get_watermark_offsets(TopicPartition("bench", 0), timeout=10)[0]
        consumer.assign([TopicPartition("bench", 0, start)])
        cpu0 = cpu_seconds(broker.pid)
        t0 = time.perf_counter()
        got = 0
        to_consume = records - start
        while got < to_consume:
            for m in consumer.consume(10000, timeout=5):
                if m.error():
                    raise SystemExit(f"consume error: {m.error()}")
                got += 1
            if time.perf_counter() - t0 > 300:
                raise SystemExit(f"consumed only {got} of {to_consume}")
        consume_s = time.perf_counter() - t0
        consume_cpu = cpu_seconds(broker.pid) - cpu0
        consumer.close()
        login_cpu = login_cost(broker) if SECURITY == "SASL_SSL" else None
        peak_rss = status_kb(broker.pid, "VmHWM")
        time.sleep(11)  # the broker hands freed memory back every 10 s
        after_rss = status_kb(broker.pid, "VmRSS")

        broker.stop()
        dev_ios = device_writes(broker.dir) - dev0
        written, calls = (broker.final_io[0] - io0[0], broker.final_io[1] - io0[1])
        payload_mb = records * size / MB
        db_bytes = os.path.getsize(broker.db)
        print(f"security: {SECURITY}" + (f" ({broker.client['sasl.mechanism']}, host name verified)"
                                         if SECURITY.startswith("SASL") else ""))
        print(f"records: {records} x {size} B = {payload_mb:.1f} MB payload")
        print(f"produce: {records / produce_s:,.0f} records/s, {payload_mb / produce_s:.1f} MB/s, "
              f"broker CPU {produce_cpu:.2f} s = {produce_cpu / payload_mb:.5f} CPU-s/MB")
        consumed_mb = to_consume * size / MB
        print(f"consume: {to_consume / consume_s:,.0f} records/s, {consumed_mb / consume_s:.1f} MB/s, "
              f"broker CPU {consume_cpu:.2f} s = {consume_cpu / consumed_mb:.5f} CPU-s/MB")
        print(f"RSS: idle {idle_rss / 1024:.1f} MiB, peak {peak_rss / 1024:.1f} MiB, "
              f"after load {after_rss / 1024:.1f} MiB")
        print(f"disk: broker wrote {written / MB:.1f} MB = {written / (records * size):.3f} bytes per "
              f"payload byte (/proc/PID/io, produce to exit), {calls / payload_mb:.1f} write calls/MB; "
              f"device write I/Os {dev_ios / payload_mb:.1f}/MB (whole device, shared)")
        print(f"database: {db_bytes / MB:.1f} MB = {db_bytes / (records * size):.3f} x payload")
        if login_cpu is not None:
            cpu, wall = login_cpu
            print(f"login (new connection: TLS handshake + SCRAM-SHA-512, {bench_security.ITERATIONS} iterations): "
                  f"broker CPU {cpu * 1000 / LOGINS:.2f} ms each, {wall * 1000 / LOGINS:.2f} ms wall each "
                  f"({LOGINS} in a row)")


def login_cost(broker):
    """Broker CPU and wall seconds of LOGINS sequential logins."""
    bench_security.login(broker.client)  # warm-up
    cpu0 = cpu_seconds(broker.pid)
    t0 = time.perf_counter()
    for _ in range(LOGINS):
        bench_security.login(broker.client)
    return cpu_seconds(broker.pid) - cpu0, time.perf_counter() - t0


if __name__ == "__main__":
    main()
