"""Starts and stops a skiff-broker for the benchmark and soak scripts.

Each broker gets a fresh database in a temporary directory and a free port on
127.0.0.1. Start-up is over when the broker answers a Kafka request
(`skiff-broker healthcheck`, an ApiVersions round trip), not when its port
merely accepts connections: the listener is bound before the database is
opened, so an open port says nothing about whether requests are served.
With `security` other than PLAINTEXT (the benchmark's `--security`) the
broker gets a throw-away certificate and SCRAM user (bench_security) and
`client` holds the librdkafka settings to reach it.
Also holds the /proc readings the scripts print (CPU seconds, RSS)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def io_counts(pid):
    """(bytes written, write calls) of a process so far, from /proc/PID/io:
    write_bytes (pages it dirtied, counted once each until written back)
    less cancelled_write_bytes (dirty pages truncated before writeback)."""
    with open(f"/proc/{pid}/io") as f:
        fields = dict(line.split(": ") for line in f.read().splitlines())
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"]), int(fields["syscw"])


def device_writes(path):
    """Write I/Os completed so far by the block device holding `path` (all
    processes on the machine), from /sys/dev/block/MAJ:MIN/stat."""
    dev = os.stat(path).st_dev
    with open(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat") as f:
        return int(f.read().split()[4])


def status_kb(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Broker:
    """A skiff-broker process on 127.0.0.1 with its own database; use it as a
    context manager so the process and the directory go away on any exit."""

    def __init__(self, binary, prefix="skiff-", log_level="warn", security="PLAINTEXT"):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.db = os.path.join(self.dir, "skiff.db")
        self.port = free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.final_io = None
        self.security = security
        self.env = dict(os.environ, RUST_LOG=log_level)
        self.client = {"bootstrap.servers": self.bootstrap}
        if security != "PLAINTEXT":
            import bench_security

            env, self.client = bench_security.setup(security, self.dir, self.bootstrap)
            self.env.update(env)
        self.proc = subprocess.Popen(
            [binary, "--listener-url", self.url, "--storage-engine", f"sqlite://{self.db}"],
            env=self.env,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"skiff-broker exited with {self.proc.returncode} at start")
            check = subprocess.run(
                [self.binary, "--listener-url", self.url, "healthcheck", "--timeout", "1"],
                capture_output=True,
                text=True,
                env=self.env,
            )
            if check.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"skiff-broker not answering after {START_TIMEOUT_S} s: {check.stderr.strip()}")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM and wait for the clean exit; killed if it takes longer
        than STOP_TIMEOUT_S. The process's I/O counts at its exit (read from
        the zombie, before it is reaped) are left in `final_io`."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state == "Z":
                    self.final_io = io_counts(self.pid)
                    break
            except OSError:
                break
            time.sleep(0.01)
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Stops the broker if it still runs and removes its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
