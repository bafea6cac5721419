"""Client helpers shared by the tests: confluent-kafka and kafka-python
producers/consumers, and a raw Kafka wire-protocol client built on struct."""

import socket
import struct
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# ---------------------------------------------------------------- confluent


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000})


def create_topic(broker, name, partitions=1, config=None):
    a = admin(broker)
    futs = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10,
        request_timeout=15,
    )
    futs[name].result(timeout=20)


def producer(broker, **conf):
    c = {
        "bootstrap.servers": broker.bootstrap,
        "linger.ms": 5,
        "message.timeout.ms": 20000,
    }
    c.update(conf)
    return Producer(c)


def produce_all(p, topic, records, partition=None, timeout=30):
    """Produces records (dicts with value and optional key, headers, timestamp)
    and returns the delivery reports (msg or KafkaError) in produce order."""
    reports = [None] * len(records)

    def cb(i):
        def on_delivery(err, msg):
            reports[i] = err if err is not None else msg

        return on_delivery

    for i, r in enumerate(records):
        kw = dict(r)
        if partition is not None:
            kw.setdefault("partition", partition)
        while True:
            try:
                p.produce(topic, on_delivery=cb(i), **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} records not delivered within {timeout}s"
    return reports


def produce_ok(p, topic, records, partition=None, timeout=30):
    reports = produce_all(p, topic, records, partition, timeout)
    errors = [r for r in reports if isinstance(r, KafkaError)]
    assert not errors, f"delivery errors: {errors[:5]}"
    return reports


def consumer(broker, **conf):
    c = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": "skiff-tests",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 100,
    }
    c.update(conf)
    return Consumer(c)


def consume_n(broker, topic, n, partitions=(0,), offset=OFFSET_BEGINNING, timeout=30, **conf):
    """Assigns the partitions at offset and reads exactly n records (then
    polls briefly to make sure nothing more arrives)."""
    c = consumer(broker, **conf)
    try:
        c.assign([TopicPartition(topic, p, offset) for p in partitions])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            out.append(m)
        assert len(out) == n, f"consumed {len(out)} of {n} records from {topic}"
        extra = c.poll(0.5)
        assert extra is None or extra.error(), f"unexpected extra record at offset {extra.offset()}"
        return out
    finally:
        c.close()


# ------------------------------------------------------------- kafka-python


def kp_consume_n(broker, topic, n, partitions=(0,), timeout=30):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    c = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    try:
        tps = [KTP(topic, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                out.extend(recs)
        assert len(out) == n, f"kafka-python consumed {len(out)} of {n} records from {topic}"
        return out
    finally:
        c.close()


# --------------------------------------------------------------- wire level


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def record_batch(
    records,
    base_timestamp=None,
    corrupt_crc=False,
    producer_id=-1,
    producer_epoch=-1,
    base_sequence=-1,
    record_count=None,
    last_offset_delta=None,
):
    """A magic-2 record batch, uncompressed. records: list of
    (key bytes|None, value bytes|None, [(header key str, header value bytes)]).
    record_count / last_offset_delta override the header fields (to build
    batches whose header lies about their records)."""
    ts = base_timestamp if base_timestamp is not None else int(time.time() * 1000)
    body = bytearray()
    for i, (key, value, headers) in enumerate(records):
        r = bytearray()
        r += b"\x00"  # attributes
        r += varint(0)  # timestamp delta
        r += varint(i)  # offset delta
        for field in (key, value):
            if field is None:
                r += varint(-1)
            else:
                r += varint(len(field)) + field
        r += varint(len(headers))
        for hk, hv in headers:
            hkb = hk.encode()
            r += varint(len(hkb)) + hkb + varint(len(hv)) + hv
        body += varint(len(r)) + r
    count = len(records) if record_count is None else record_count
    lod = len(records) - 1 if last_offset_delta is None else last_offset_delta
    after_crc = struct.pack(">hiqqqhii", 0, lod, ts, ts, producer_id, producer_epoch, base_sequence, count) + bytes(
        body
    )
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    # partitionLeaderEpoch, magic, crc follow batchLength
    tail = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


def kstr(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class RawClient:
    """A blocking Kafka connection speaking non-flexible request versions."""

    def __init__(self, broker, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=timeout)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def send(self, api_key, version, body: bytes):
        """Sends one request (header v1) without reading its response."""
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + kstr("skiff-raw-test")
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)

    def fetch_body(self, topic, partition, offset, max_wait_ms, min_bytes=1):
        """A Fetch v4 request body for one partition."""
        return (
            struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 1 << 20, 0)
            + struct.pack(">i", 1)
            + kstr(topic)
            + struct.pack(">i", 1)
            + struct.pack(">iqi", partition, offset, 1 << 20)
        )

    def request(self, api_key, version, body: bytes, flexible=False) -> bytes:
        """Sends one request (header v1, or v2 if flexible) and returns the
        response after the correlation id, checking the correlation id (a
        flexible response still starts with its header's tagged fields)."""
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + kstr("skiff-raw-test")
        if flexible:
            header += b"\x00"  # no tagged fields
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        (size,) = struct.unpack(">i", self._recv_exact(4))
        payload = self._recv_exact(size)
        (corr,) = struct.unpack(">i", payload[:4])
        assert corr == self.correlation, f"correlation id {corr}, expected {self.correlation}"
        return payload[4:]

    def api_versions(self):
        """ApiVersions v0: returns {api_key: (min, max)}; asserts error 0."""
        body = self.request(18, 0, b"")
        err, n = struct.unpack(">hi", body[:6])
        assert err == 0, f"ApiVersions error {err}"
        out = {}
        for i in range(n):
            k, lo, hi = struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i])
            out[k] = (lo, hi)
        return out

    def metadata_topics(self, topics):
        """Metadata v1 for topics: {name: (error, partition count)}."""
        body = struct.pack(">i", len(topics)) + b"".join(kstr(t) for t in topics)
        resp = self.request(3, 1, body)
        (n,) = struct.unpack(">i", resp[:4])
        pos = 4
        for _ in range(n):
            pos += 4
            (hl,) = struct.unpack(">h", resp[pos : pos + 2])
            pos += 2 + hl + 4
            (rl,) = struct.unpack(">h", resp[pos : pos + 2])
            pos += 2 + max(rl, 0)
        pos += 4  # controller id
        (nt,) = struct.unpack(">i", resp[pos : pos + 4])
        pos += 4
        out = {}
        for _ in range(nt):
            err, tl = struct.unpack(">hh", resp[pos : pos + 4])
            name = resp[pos + 4 : pos + 4 + tl].decode()
            pos += 4 + tl + 1  # is_internal
            (np_,) = struct.unpack(">i", resp[pos : pos + 4])
            pos += 4
            for _ in range(np_):
                pos += 2 + 4 + 4
                for _ in range(2):  # replicas, isr
                    (k,) = struct.unpack(">i", resp[pos : pos + 4])
                    pos += 4 + 4 * max(k, 0)
            out[name] = (err, np_)
        return out

    def metadata_brokers(self, topics=None):
        """Metadata v1 for topics (None = all); returns the broker list
        [(node_id, host, port)]."""
        if topics is None:
            body = struct.pack(">i", -1)
        else:
            body = struct.pack(">i", len(topics)) + b"".join(kstr(t) for t in topics)
        resp = self.request(3, 1, body)
        (n,) = struct.unpack(">i", resp[:4])
        pos = 4
        brokers = []
        for _ in range(n):
            (node,) = struct.unpack(">i", resp[pos : pos + 4])
            pos += 4
            (hl,) = struct.unpack(">h", resp[pos : pos + 2])
            host = resp[pos + 2 : pos + 2 + hl].decode()
            pos += 2 + hl
            (port,) = struct.unpack(">i", resp[pos : pos + 4])
            pos += 4
            (rl,) = struct.unpack(">h", resp[pos : pos + 2])
            pos += 2 + max(rl, 0)
            brokers.append((node, host, port))
        return brokers

    def produce(self, topic, partition, records: bytes, acks=-1, version=3):
        """Produce (v3 unless asked) of one record set to one partition;
        returns (error_code, base_offset) of that partition's response."""
        body = (
            (kstr(None) if version >= 3 else b"")
            + struct.pack(">hi", acks, 10000)
            + struct.pack(">i", 1)
            + kstr(topic)
            + struct.pack(">i", 1)
            + struct.pack(">ii", partition, len(records))
            + records
        )
        resp = self.request(0, version, body)
        (nt,) = struct.unpack(">i", resp[:4])
        assert nt == 1
        (tl,) = struct.unpack(">h", resp[4:6])
        name = resp[6 : 6 + tl].decode()
        assert name == topic
        pos = 6 + tl
        (np_,) = struct.unpack(">i", resp[pos : pos + 4])
        assert np_ == 1
        idx, err, base = struct.unpack(">ihq", resp[pos + 4 : pos + 18])
        assert idx == partition
        return err, base

    def init_producer_id(self):
        """InitProducerId v0 without a transactional id: (error, id, epoch)."""
        resp = self.request(22, 0, kstr(None) + struct.pack(">i", 60000))
        _throttle, err, pid, epoch = struct.unpack(">ihqh", resp[:16])
        return err, pid, epoch

    def list_offset(self, topic, partition, timestamp):
        """ListOffsets v1 for one partition: (error, timestamp, offset)."""
        body = struct.pack(">i", -1) + struct.pack(">i", 1) + kstr(topic) + struct.pack(">iiq", 1, partition, timestamp)
        resp = self.request(2, 1, body)
        (tl,) = struct.unpack(">h", resp[4:6])
        pos = 6 + tl
        _np, idx, err, ts, offset = struct.unpack(">iihqq", resp[pos : pos + 26])
        assert idx == partition
        return err, ts, offset

    def high_watermark(self, topic, partition):
        """ListOffsets v1 latest (-1): the high watermark."""
        err, _ts, offset = self.list_offset(topic, partition, -1)
        assert err == 0, f"ListOffsets error {err}"
        return offset

    def read_response(self):
        """Reads the response to the last request sent with send()."""
        (size,) = struct.unpack(">i", self._recv_exact(4))
        payload = self._recv_exact(size)
        (corr,) = struct.unpack(">i", payload[:4])
        assert corr == self.correlation, f"correlation id {corr}, expected {self.correlation}"
        return payload[4:]

    @staticmethod
    def parse_fetch_v4(resp):
        """One topic, one partition Fetch v4 response: (error, high watermark,
        record set bytes)."""
        pos = 4  # throttle
        (nt,) = struct.unpack(">i", resp[pos : pos + 4])
        assert nt == 1, f"{nt} topics in the fetch response"
        (tl,) = struct.unpack(">h", resp[pos + 4 : pos + 6])
        pos += 6 + tl
        (np_,) = struct.unpack(">i", resp[pos : pos + 4])
        assert np_ == 1
        _idx, err, hwm, _lso = struct.unpack(">ihqq", resp[pos + 4 : pos + 26])
        pos += 26
        (naborted,) = struct.unpack(">i", resp[pos : pos + 4])
        pos += 4 + max(naborted, 0) * 16
        (rl,) = struct.unpack(">i", resp[pos : pos + 4])
        records = resp[pos + 4 : pos + 4 + max(rl, 0)]
        return err, hwm, records


def stored_batches(broker, topic, partition=0, offset=0):
    """The batches a Fetch v4 returns from offset, as (base offset,
    compression codec id, record count)."""
    c = RawClient(broker)
    try:
        err, _hwm, recs = c.parse_fetch_v4(c.request(1, 4, c.fetch_body(topic, partition, offset, 100)))
        assert err == 0, f"fetch error {err}"
    finally:
        c.close()
    out = []
    pos = 0
    while pos + 61 <= len(recs):
        base, blen = struct.unpack(">qi", recs[pos : pos + 12])
        if pos + 12 + blen > len(recs):
            break  # partial trailing batch
        (attrs,) = struct.unpack(">h", recs[pos + 21 : pos + 23])
        (count,) = struct.unpack(">i", recs[pos + 57 : pos + 61])
        out.append((base, attrs & 0x07, count))
        pos += 12 + blen
    return out


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def known_bug(reason):
    """Marks a test that fails because of a reported broker bug: strict xfail,
    so the suite stays green while the bug is open and turns red (XPASS) the
    moment it is fixed, to have the marker removed. SKIFF_EXPOSE_BUGS=1 runs
    them as plain tests (to see the failures)."""
    import os

    import pytest

    if os.environ.get("SKIFF_EXPOSE_BUGS") == "1":
        return pytest.mark.known_bug
    return pytest.mark.xfail(strict=True, reason=f"broker bug: {reason}")


def rss_kib(broker):
    """The broker process's resident set, from /proc."""
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")
