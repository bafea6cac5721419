"""Incremental fetch sessions (KIP-227) with kafka-python, which uses them:
a consumer of many partitions gets every record exactly once through
incremental fetches, and the broker really kept a session for it."""

import time

from conftest import Broker
from helpers import create_topic, produce_ok, producer


def test_kafka_python_consumes_everything_through_a_session(tmp_path):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    b = Broker(tmp_path, env={"RUST_LOG": "info,skiff_broker::fetch_sessions=debug"})
    b.start()
    try:
        topic = "sessions"
        create_topic(b, topic, partitions=40)
        c = KafkaConsumer(
            bootstrap_servers=b.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        try:
            tps = [KTP(topic, p) for p in range(40)]
            c.assign(tps)
            seen = []

            def drain(n, timeout=30):
                deadline = time.monotonic() + timeout
                while len(seen) < n and time.monotonic() < deadline:
                    for recs in c.poll(timeout_ms=200).values():
                        seen.extend((r.partition, r.offset, r.value) for r in recs)

            # Rounds of records on a few partitions, consumed between rounds:
            # later fetches are incremental (only moved partitions sent).
            p = producer(b)
            expected = []
            for round_ in range(5):
                records = [{"value": f"{round_}-{i}".encode(), "partition": (round_ * 7 + i) % 40} for i in range(20)]
                produce_ok(p, topic, records)
                expected.extend(r["value"] for r in records)
                drain(len(expected))
            time.sleep(0.5)
            for recs in c.poll(timeout_ms=500).values():
                seen.extend((r.partition, r.offset, r.value) for r in recs)
            assert sorted(v for _, _, v in seen) == sorted(expected)
            assert len({(pt, o) for pt, o, _ in seen}) == len(seen), "no record twice"
        finally:
            c.close()
        assert "fetch session created" in b.log_text(), "kafka-python used a session"
    finally:
        b.stop()
