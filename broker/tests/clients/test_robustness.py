"""Hostile or broken input on the wire: the broker closes the offending
connection (as Kafka does) or answers with an error, and keeps serving
everyone else."""

import os
import socket
import struct

import pytest

from conftest import Broker
from helpers import RawClient, create_topic, kstr, record_batch

UNSUPPORTED_VERSION = 35


def closed_by_broker(sock, timeout=5.0):
    """True if the broker closes the connection (EOF or reset) in time."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def still_serving(broker):
    c = RawClient(broker)
    try:
        return 18 in c.api_versions() and c.metadata_brokers() == [(0, "127.0.0.1", broker.port)]
    finally:
        c.close()


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(struct.pack(">i", -5), id="negative-size"),
        pytest.param(struct.pack(">i", 12) + os.urandom(12), id="random-bytes"),
        pytest.param(struct.pack(">i", 8) + struct.pack(">hhi", 1000, 0, 1), id="unknown-api-key"),
        pytest.param(struct.pack(">i", 10) + struct.pack(">hhi", 0, 3, 1) + b"\x00\x63", id="header-cut-short"),
        pytest.param(
            struct.pack(">i", 14) + struct.pack(">hhi", 3, 1, 1) + kstr("x") + b"\x00\x00\x00",
            id="metadata-body-cut-short",
        ),
    ],
)
def test_malformed_frames_close_the_connection(shared_broker, frame):
    s = socket.create_connection(("127.0.0.1", shared_broker.port), timeout=5)
    try:
        s.sendall(frame)
        assert closed_by_broker(s), "the broker kept a connection open after a malformed frame"
    finally:
        s.close()
    assert still_serving(shared_broker)


def test_client_vanishing_mid_frame(shared_broker):
    """Clients that disconnect half-way through a frame, or right after
    sending a produce, leave the broker serving."""
    for cut in (2, 6, 30):
        s = socket.create_connection(("127.0.0.1", shared_broker.port), timeout=5)
        s.sendall((struct.pack(">i", 200) + b"\x00" * 200)[:cut])
        s.close()
    assert still_serving(shared_broker)


def test_api_versions_unknown_version_kip_511(shared_broker):
    """ApiVersions at a version the broker does not know: answered (not
    closed) with UNSUPPORTED_VERSION and the supported ranges in a v0 body,
    so clients can downgrade (KIP-511)."""
    c = RawClient(shared_broker)
    try:
        # A v3-style body (flexible header and body), as a newer client sends.
        v3_body = b"\x05skiff" + b"\x041.0" + b"\x00"
        body = c.request(18, 99, v3_body, flexible=True)
        err, n = struct.unpack(">hi", body[:6])
        assert err == UNSUPPORTED_VERSION
        ranges = {
            struct.unpack(">h", body[6 + 6 * i : 8 + 6 * i])[0]: struct.unpack(">hh", body[8 + 6 * i : 12 + 6 * i])
            for i in range(n)
        }
        assert ranges[18] == (0, 4)
    finally:
        c.close()


def test_request_larger_than_max_request_bytes(tmp_path):
    """SKIFF_MAX_REQUEST_BYTES=65536: a 100 KB produce closes its connection
    and stores nothing; a 30 KB one on a new connection is stored."""
    b = Broker(tmp_path, env={"SKIFF_MAX_REQUEST_BYTES": "65536"})
    b.start()
    try:
        create_topic(b, "big")
        c = RawClient(b)
        try:
            with pytest.raises((ConnectionError, OSError)):
                c.produce("big", 0, record_batch([(None, b"x" * 100_000, [])]))
        finally:
            c.close()
        c = RawClient(b)
        try:
            assert c.high_watermark("big", 0) == 0
            assert c.produce("big", 0, record_batch([(None, b"y" * 30_000, [])])) == (0, 0)
        finally:
            c.close()
        b.stop()
    finally:
        b.cleanup()


def test_pipelined_requests_answered_in_order(shared_broker):
    """Ten requests of different kinds written at once on one connection
    (produce acks=1, ApiVersions, Metadata, ListOffsets) come back in order,
    each with its own correlation id."""
    create_topic(shared_broker, "pipelined")
    c = RawClient(shared_broker)
    try:
        frames = []
        for i in range(10):
            c.correlation += 1
            if i % 3 == 0:
                api, ver = 0, 3
                batch = record_batch([(None, b"p%d" % i, [])])
                body = (
                    kstr(None)
                    + struct.pack(">hi", 1, 10000)
                    + struct.pack(">i", 1)
                    + kstr("pipelined")
                    + struct.pack(">i", 1)
                    + struct.pack(">ii", 0, len(batch))
                    + batch
                )
            elif i % 3 == 1:
                api, ver, body = 18, 0, b""
            else:
                api, ver, body = 3, 1, struct.pack(">i", -1)
            frame = struct.pack(">hhi", api, ver, c.correlation) + kstr("pipe") + body
            frames.append(struct.pack(">i", len(frame)) + frame)
        c.sock.sendall(b"".join(frames))
        first = c.correlation - 9
        for i in range(10):
            (size,) = struct.unpack(">i", c._recv_exact(4))
            payload = c._recv_exact(size)
            (corr,) = struct.unpack(">i", payload[:4])
            assert corr == first + i, f"response {i} has correlation id {corr}, expected {first + i}"
        assert c.high_watermark("pipelined", 0) == 4
    finally:
        c.close()
