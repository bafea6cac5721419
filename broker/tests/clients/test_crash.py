"""Crash safety: SIGKILL the broker at random moments while idempotent
confluent-kafka producers write with acks=all, restart it each time, and
check what a user relies on: every acknowledged record is stored exactly
once, offsets are contiguous, and the producer never sees a sequence error."""

import os
import random
import threading
import time

from helpers import consume_n, create_topic, producer

KILLS = int(os.environ.get("SKIFF_CRASH_KILLS", "20"))
PARTITIONS = 3


def test_sigkill_during_idempotent_produce_loses_and_duplicates_nothing(broker, topic_name):
    create_topic(broker, topic_name, partitions=PARTITIONS)
    p = producer(
        broker,
        **{
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 120000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 200,
        },
    )
    acked = {}  # value -> (partition, offset)
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[msg.value()] = (msg.partition(), msg.offset())

    stop = threading.Event()
    rng = random.Random(20261127)
    kills = []

    def killer():
        for _ in range(KILLS):
            # Kill only while writes are flowing: after new acknowledgements.
            seen = len(acked)
            deadline = time.monotonic() + 20
            while len(acked) <= seen and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
            waited = time.monotonic() - (deadline - 20)
            broker.kill()
            kills.append((len(acked), round(waited, 2)))
            broker.start()
        stop.set()

    t = threading.Thread(target=killer)
    t.start()
    sent = 0
    try:
        while not stop.is_set():
            value = b"v-%08d" % sent
            try:
                p.produce(topic_name, value, partition=sent % PARTITIONS, on_delivery=on_delivery)
                sent += 1
            except BufferError:
                pass
            # About a thousand records a second: enough to keep batches in
            # flight at every kill, few enough to check quickly.
            p.poll(0.001)
    finally:
        t.join()
    remaining = p.flush(120)
    print(f"{KILLS} kills, {sent} records sent, {len(acked)} acknowledged")
    print(f"(acknowledged, seconds since the restart) at each kill: {kills}")
    assert remaining == 0, f"{remaining} records never delivered"
    assert not errors, f"delivery errors: {errors[:5]}"
    assert len(acked) == sent

    got = consume_n(broker, topic_name, sent, partitions=tuple(range(PARTITIONS)), timeout=60)
    by_partition = {}
    for m in got:
        by_partition.setdefault(m.partition(), []).append((m.offset(), m.value()))
    values = [v for recs in by_partition.values() for _, v in recs]
    assert len(values) == len(set(values)), "a record is stored twice"
    assert set(values) == set(acked), "an acknowledged record is missing"
    for part, recs in by_partition.items():
        offsets = [o for o, _ in recs]
        assert offsets == list(range(len(offsets))), f"partition {part}: offsets not contiguous"
    for value, (part, offset) in acked.items():
        assert (offset, value) in set(by_partition[part]), f"{value} not at its acknowledged offset"
