"""Fixtures for the real-client tests: a skiff-broker process on a free port
with a fresh SQLite database, which a test can restart (SIGTERM or SIGKILL)
on the same database."""

import gc
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BROKER_BIN = os.environ.get("SKIFF_BROKER_BIN") or str(ROOT / "target" / "debug" / "skiff-broker")

START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One skiff-broker on 127.0.0.1:port over db_path. start/stop/kill/restart."""

    def __init__(self, workdir: Path, env=None, listen_host="127.0.0.1"):
        self.workdir = workdir
        self.listen_host = listen_host
        self.db_path = workdir / "skiff.db"
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"tcp://{self.listen_host}:{self.port}"

    def log_path(self):
        return self.workdir / f"broker-{self.starts}.log"

    def log_text(self):
        out = []
        for i in range(1, self.starts + 1):
            p = self.workdir / f"broker-{i}.log"
            if p.exists():
                out.append(f"--- broker run {i} ---\n" + p.read_text(errors="replace")[-20000:])
        return "\n".join(out)

    def start(self):
        assert self.proc is None, "broker already running"
        self.starts += 1
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.update(self.extra_env)
        self._log = open(self.log_path(), "wb")
        self.proc = subprocess.Popen(
            [BROKER_BIN, "--listener-url", self.url, "--storage-engine", f"sqlite://{self.db_path}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None
                self._log.close()
                raise AssertionError(f"skiff-broker exited with {rc} at start:\n{self.log_text()}")
            r = subprocess.run(
                [BROKER_BIN, "--listener-url", self.url, "healthcheck", "--timeout", "1"],
                capture_output=True,
                env=env,  # the broker's settings: its security protocol among them
            )
            if r.returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.cleanup()
                raise AssertionError(f"skiff-broker did not answer within {START_TIMEOUT_S}s:\n{self.log_text()}")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM; asserts a clean exit (code 0) within STOP_TIMEOUT_S."""
        assert self.proc is not None, "broker not running"
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self._log.close()
            raise AssertionError(f"skiff-broker did not exit within {STOP_TIMEOUT_S}s of SIGTERM:\n{self.log_text()}")
        self._log.close()
        assert rc == 0, f"skiff-broker exited {rc} after SIGTERM:\n{self.log_text()}"

    def kill(self):
        """SIGKILL: no chance to flush or close anything."""
        assert self.proc is not None, "broker not running"
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()
        self._log.close()

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self._log.close()


@pytest.fixture
def broker(tmp_path, request):
    """A fresh broker on its own database; stopped with SIGTERM at the end,
    asserting exit code 0."""
    b = Broker(tmp_path)
    b.start()
    ok = False
    try:
        yield b
        ok = True
    finally:
        # Drop the test's clients (librdkafka handles log reconnect attempts
        # to a stopped broker for as long as they live).
        gc.collect()
        if b.proc is not None:
            if ok:
                b.stop()
            else:
                b.cleanup()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(b.log_text())


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    """One broker for a module whose tests each use their own topics."""
    b = Broker(tmp_path_factory.mktemp("shared"))
    b.start()
    try:
        yield b
        gc.collect()
        b.stop()
    finally:
        b.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def topic_name(request):
    """A unique topic name derived from the test's name."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:60]
    return f"{base}-{uuid.uuid4().hex[:8]}"
