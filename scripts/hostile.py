"""A hostile client for `scripts/soak --hostile`: cycles through the attacks
the broker's limits exist for, as raw Kafka requests, until told to stop.

Each attack is small on the wire and asks the broker for something large:
absurd partition counts, duplicated Fetch/Metadata/DescribeGroups entries,
a gzip bomb looked into by timestamp, frames that never finish, long polls
that never end, a JoinGroup with 80,000 protocols, thousands of invented
groups and producer ids, lying batch headers, and a connection flood. The
broker may refuse, answer with an error or close the connection: all of
that is expected; what the soak measures is the legitimate clients'
throughput and the broker's peak RSS while this runs."""

import gzip
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "broker", "tests", "clients"))

from helpers import RawClient, crc32c, kstr, record_batch  # noqa: E402

INT32_MAX = 2**31 - 1


def raw_batch(records_section, count, attributes=0, base_ts=None, max_ts=None, pid=-1, seq=-1):
    """A magic-2 batch around an encoded (or compressed) records section."""
    base_ts = int(time.time() * 1000) if base_ts is None else base_ts
    max_ts = base_ts if max_ts is None else max_ts
    after_crc = (
        struct.pack(">hiqqqhii", attributes, count - 1, base_ts, max_ts, pid, 0 if pid >= 0 else -1, seq, count)
        + records_section
    )
    tail = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


ONE_RECORD = bytes([14, 0, 0, 0, 1, 2, ord("x"), 0])  # value b"x", no key/headers


class Hostile:
    """Runs the attacks in a loop on a thread; `stop()` ends it and closes
    every socket it holds."""

    def __init__(self, broker, topic):
        self.broker = broker
        self.topic = topic
        self.stopping = threading.Event()
        self.held = []  # sockets kept open on purpose (slow frames, parked polls)
        self.counts = {}
        self.errors = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.bomb = None

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(60)
        for s in self.held:
            try:
                s.close()
            except OSError:
                pass
        self.held.clear()

    def summary(self):
        return ", ".join(f"{k} {v}x" + (f" ({self.errors[k]} closed)" if k in self.errors else "")
                         for k, v in self.counts.items())

    def _client(self):
        c = RawClient(self.broker, timeout=5.0)
        return c

    def _run(self):
        attacks = [
            self.huge_partition_count,
            self.duplicate_fetch,
            self.duplicate_metadata,
            self.duplicate_describe_groups,
            self.decompression_bomb,
            self.unfinished_frames,
            self.endless_long_polls,
            self.join_with_many_protocols,
            self.invented_groups,
            self.invented_producer_ids,
            self.two_batches_one_partition,
            self.missing_max_timestamp,
            self.connection_flood,
        ]
        only = os.environ.get("HOSTILE_ONLY")  # e.g. HOSTILE_ONLY=decompression_bomb,connection_flood
        if only:
            attacks = [a for a in attacks if a.__name__ in only.split(",")]
        while not self.stopping.is_set():
            for attack in attacks:
                if self.stopping.is_set():
                    return
                name = attack.__name__
                self.counts[name] = self.counts.get(name, 0) + 1
                try:
                    attack()
                except (OSError, ConnectionError, AssertionError, struct.error):
                    self.errors[name] = self.errors.get(name, 0) + 1
                self.stopping.wait(0.2)

    # -- the attacks -------------------------------------------------------

    def huge_partition_count(self):
        c = self._client()
        name = f"hostile-{random.getrandbits(32)}"
        body = struct.pack(">i", 1) + kstr(name) + struct.pack(">ihii", INT32_MAX, -1, 0, 0)
        body += struct.pack(">ib", 30000, 0)
        c.request(19, 2, body)
        c.close()

    def duplicate_fetch(self):
        """One partition listed 200 times, 2 GiB allowed per partition; the
        answer is never read."""
        c = self._client()
        part = struct.pack(">iqi", 0, 0, INT32_MAX)
        body = struct.pack(">iiiib", -1, 0, 0, INT32_MAX, 0) + struct.pack(">i", 1) + kstr(self.topic)
        body += struct.pack(">i", 200) + part * 200
        c.send(1, 4, body)
        self.stopping.wait(1.0)
        c.close()

    def duplicate_metadata(self):
        c = self._client()
        body = struct.pack(">i", 100_000) + kstr(self.topic) * 100_000
        c.send(3, 1, body)
        self.stopping.wait(0.5)
        c.close()

    def duplicate_describe_groups(self):
        c = self._client()
        body = struct.pack(">i", 5000) + kstr("hostile-group") * 5000
        c.send(15, 0, body)
        self.stopping.wait(0.5)
        c.close()

    def decompression_bomb(self):
        """64 MiB of minimal records in a ~65 KB gzip batch, then timestamp
        lookups that must look inside it."""
        c = self._client()
        if self.bomb is None:
            record = bytes([12, 0, 0, 0, 1, 1, 0])
            n = (64 << 20) // len(record)
            self.bomb = (gzip.compress(record * n, compresslevel=9), n)
        data, n = self.bomb
        base_ts = 1_700_000_000_000
        c.produce(self.topic, 0, raw_batch(data, n, attributes=1, base_ts=base_ts, max_ts=base_ts + 1))
        for _ in range(4):
            c.list_offset(self.topic, 0, base_ts + 1)
        c.close()

    def unfinished_frames(self):
        """Ten connections announce 100 MB frames and send a few bytes."""
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", self.broker.port), timeout=5)
            s.sendall(struct.pack(">i", 100 << 20) + b"\x00\x01")
            self.held.append(s)
        self._trim_held()

    def endless_long_polls(self):
        """Ten Fetches that wait 2^31-1 ms for data far past the end."""
        for _ in range(10):
            c = self._client()
            body = c.fetch_body(self.topic + "-idle", 0, 0, INT32_MAX, min_bytes=INT32_MAX)
            c.send(1, 4, body)
            self.held.append(c.sock)
        self._trim_held()

    def join_with_many_protocols(self):
        c = self._client()
        protocols = b"".join(kstr(f"p{i}") + struct.pack(">i", 0) for i in range(80_000))
        body = (
            kstr("hostile-join")
            + struct.pack(">ii", 10000, 10000)
            + kstr("")
            + kstr("consumer")
            + struct.pack(">i", 80_000)
            + protocols
        )
        c.send(11, 1, body)
        self.stopping.wait(0.5)
        c.close()

    def invented_groups(self):
        """OffsetCommit v2 with generation -1 to 500 new group ids, each with
        4000 bytes of metadata."""
        c = self._client()
        meta = "m" * 4000
        for _ in range(500):
            group = f"hostile-g{random.getrandbits(48)}"
            body = (
                kstr(group)
                + struct.pack(">i", -1)
                + kstr("")
                + struct.pack(">q", -1)
                + struct.pack(">i", 1)
                + kstr(self.topic)
                + struct.pack(">i", 1)
                + struct.pack(">iq", 0, 0)
                + kstr(meta)
            )
            c.request(8, 2, body)
            if self.stopping.is_set():
                break
        c.close()

    def invented_producer_ids(self):
        """500 idempotent batches, each from a producer id never handed out."""
        c = self._client()
        for _ in range(500):
            pid = random.getrandbits(62)
            c.produce(self.topic, 1, raw_batch(ONE_RECORD, 1, pid=pid, seq=0))
            if self.stopping.is_set():
                break
        c.close()

    def two_batches_one_partition(self):
        c = self._client()
        b0 = record_batch([(None, b"a", [])], producer_id=777, producer_epoch=0, base_sequence=0)
        b5 = record_batch([(None, b"b", [])], producer_id=777, producer_epoch=0, base_sequence=5)
        c.produce(self.topic, 2, b0 + b5)
        c.close()

    def missing_max_timestamp(self):
        c = self._client()
        c.produce(self.topic, 3, raw_batch(ONE_RECORD, 1, max_ts=-1))
        c.close()

    def connection_flood(self):
        """300 connections opened at once, then closed."""
        socks = []
        try:
            for _ in range(300):
                socks.append(socket.create_connection(("127.0.0.1", self.broker.port), timeout=5))
        finally:
            for s in socks:
                s.close()

    def _trim_held(self):
        """Keeps at most 60 held sockets, so the attacker itself stays under
        the per-address connection cap the legitimate clients share."""
        while len(self.held) > 60:
            self.held.pop(0).close()


class _Address:
    def __init__(self, port):
        self.port = port


def main():
    """`hostile.py PORT TOPIC SECONDS`: attacks the broker on 127.0.0.1:PORT
    for SECONDS, then prints what it sent. `soak.py` runs it as its own
    process, so its Python work does not take the legitimate clients' GIL."""
    port, topic, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    attacker = Hostile(_Address(port), topic)
    attacker.start()
    time.sleep(seconds)
    attacker.stop()
    print(f"attacks sent: {attacker.summary()}", flush=True)


if __name__ == "__main__":
    main()
