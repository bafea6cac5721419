"""Latency benchmark driven by librdkafka; see scripts/bench.

Prints (1) sync produce latency: one 1 KiB record at a time with acks=all,
each waited for before the next (p50/p99/p99.9/max), and the broker's CPU
time per record (each is one group commit); then, while another
process saturates the broker with acks=all produce for SATURATE_S seconds,
(2) the tail latency of a consumer at the end of another topic, which gets
a 1 KiB record every 10 ms (from send to receipt: commit, long-poll wake-up
and read), and (3) a lagging consumer catching up on the saturated topic
from offset 0: its MB/s and the longest gap between two deliveries.
Usage: python scripts/bench-latency.py BROKER_BINARY [SYNC_RECORDS]"""
import multiprocessing
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from launcher import Broker, cpu_seconds

MB = 1_000_000
SECURITY = os.environ.get("SKIFF_BENCH_SECURITY", "PLAINTEXT")
SATURATE_S = 15


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def summary(ms):
    return (f"p50 {pct(ms, 0.5):.2f} ms, p99 {pct(ms, 0.99):.2f} ms, "
            f"p99.9 {pct(ms, 0.999):.2f} ms, max {max(ms):.2f} ms ({len(ms)} samples)")


def sync_produce(client, n):
    producer = Producer({**client, "acks": "all", "linger.ms": 0})
    payload = os.urandom(1024)
    for _ in range(200):  # warm-up: connection, metadata
        producer.produce("sync", payload, partition=0)
        producer.flush(10)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        producer.produce("sync", payload, partition=0)
        if producer.flush(10) != 0:
            raise SystemExit("sync produce not delivered in 10 s")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def saturate(client, seconds, done):
    producer = Producer({
        **client, "acks": "all", "linger.ms": 5,
        "batch.size": 1_000_000, "queue.buffering.max.kbytes": 200_000,
    })
    payload = os.urandom(1024)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            producer.produce("load", payload, partition=0)
        except BufferError:
            producer.poll(0.01)
    producer.flush(60)
    done.set()


def catch_up(client, seconds, out):
    consumer = Consumer({
        **client, "group.id": "lagging", "enable.auto.commit": False,
        "max.partition.fetch.bytes": 1048576,
    })
    consumer.assign([TopicPartition("load", 0, 0)])
    got, longest, last = 0, 0.0, time.perf_counter()
    t0 = last
    end = t0 + seconds
    while time.perf_counter() < end:
        msgs = consumer.consume(10000, timeout=0.5)
        now = time.perf_counter()
        if msgs:
            longest = max(longest, now - last)
            last = now
            got += sum(len(m.value() or b"") for m in msgs if not m.error())
    consumer.close()
    out.put((got, time.perf_counter() - t0, longest))


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    with Broker(binary, prefix="skiff-bench-latency-", security=SECURITY) as broker:
        client = broker.client
        print(f"security: {SECURITY}")
        admin = AdminClient(client)
        for f in admin.create_topics([NewTopic(t, 1, 1) for t in ("sync", "load", "probe")]).values():
            f.result()
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        cpu = cpu_seconds(broker.pid)
        sync_ms = sync_produce(client, n)
        cpu_us = (cpu_seconds(broker.pid) - cpu) * 1e6 / (n + 200)  # with the 200 warm-up records
        print(f"sync produce (acks=all, 1 KiB, one at a time): {summary(sync_ms)}; "
              f"broker CPU {cpu_us:.0f} us per record")

        ctx = multiprocessing.get_context("spawn")
        done, results = ctx.Event(), ctx.Queue()
        loader = ctx.Process(target=saturate, args=(client, SATURATE_S, done))
        lagging = ctx.Process(target=catch_up, args=(client, SATURATE_S, results))
        loader.start()
        time.sleep(3)  # a backlog for the lagging consumer
        lagging.start()

        probe_out = Producer({**client, "acks": "1", "linger.ms": 0})
        probe_in = Consumer({**client, "group.id": "tail",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 500})
        end_offset = probe_in.get_watermark_offsets(TopicPartition("probe", 0), timeout=10)[1]
        probe_in.assign([TopicPartition("probe", 0, end_offset)])
        probe_in.consume(1, timeout=1)
        tail_ms = []
        payload = bytes(1016)
        while not done.is_set() and len(tail_ms) < 1000:
            sent = time.perf_counter()
            probe_out.produce("probe", sent.hex().encode() + payload, partition=0)
            probe_out.poll(0)
            for m in probe_in.consume(1, timeout=2):
                if not m.error():
                    tail_ms.append((time.perf_counter() - float.fromhex(m.value()[:-1016].decode())) * 1000)
            time.sleep(0.01)
        got, seconds, longest = results.get(timeout=SATURATE_S + 30)
        loader.join(60)
        lagging.join(60)
        print(f"load average after the saturated run: {os.getloadavg()[0]:.2f}")
        print(f"tail consumer under saturated produce (send to receipt): {summary(tail_ms)}")
        print(f"lagging consumer under saturated produce: {got / MB / seconds:.1f} MB/s over {seconds:.1f} s, "
              f"longest gap between deliveries {longest * 1000:.0f} ms")


if __name__ == "__main__":
    main()
