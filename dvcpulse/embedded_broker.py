"""The embedded Kafka broker for development and tests: noida-db, run as a child process.

All noida-specific knowledge lives in this module; the rest of dvcpulse only sees a bootstrap address.
We launch noida's native binary directly (not its Python wrapper, whose own child can keep the port
after SIGTERM) in a new process group, so that `stop()` can signal everything it spawned.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import stat
import struct
import subprocess
import time
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Self

from dvcpulse.processes import pid_alive

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ENDPOINT_FILE = "endpoint.json"
LOG_FILE = "broker.log"
# noida-db's binary is linked against a newer glibc symbol version; it runs fine and says so on stderr.
_HARMLESS_STDERR = ("weak version `GLIBC_",)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or stopped."""


def _binary() -> Path:
    binary = Path(str(files("noida_db") / "noida-db"))  # installed wheels are plain directories
    if not binary.is_file():
        raise BrokerError(f"noida-db binary not found at {binary}; is the noida-db package installed?")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def free_port(host: str = HOST) -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when a server could bind the port (SO_REUSEADDR, as servers do, so TIME_WAIT doesn't count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when host:port answers a Kafka Metadata request (v0, all topics) listing at least one broker.

    A raw-socket probe rather than an aiokafka client, so it works with or without a running event loop.
    """
    client_id = b"dvcpulse-probe"
    correlation_id = 0x0D5C
    header = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    request = header + struct.pack(">i", 0)  # v0: an empty topic array means "all topics", creates none
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size_bytes = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", size_bytes)
            if not 8 <= size <= 16 * 1024 * 1024:
                return False
            body = _recv_exact(sock, size)
    except OSError:
        return False
    received_id, broker_count = struct.unpack(">ii", body[:8])
    return received_id == correlation_id and broker_count >= 1


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks += chunk
    return bytes(chunks)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no broker log)"
    kept = [line for line in text.splitlines() if not any(h in line for h in _HARMLESS_STDERR)]
    return "\n".join(kept[-lines:]) or "(broker log is empty)"


def find_running_broker(data_dir: Path) -> str | None:
    """Bootstrap address of a live embedded broker for data_dir, else None (a stale endpoint file is removed)."""
    endpoint = Path(data_dir) / ENDPOINT_FILE
    try:
        info = json.loads(endpoint.read_text(encoding="utf-8"))
        bootstrap, pid = str(info["bootstrap"]), int(info["pid"])
        host, port = bootstrap.rsplit(":", 1)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("unreadable %s; removing it", endpoint)
        endpoint.unlink(missing_ok=True)
        return None
    if pid_alive(pid) and kafka_answers(host, int(port)):
        return bootstrap
    log.info("removing stale %s (pid %s is gone or %s does not answer)", endpoint, pid, bootstrap)
    endpoint.unlink(missing_ok=True)
    return None


class EmbeddedBroker:
    """A single-node Kafka-protocol broker (noida-db) bound to loopback, with its data in data_dir."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def endpoint_path(self) -> Path:
        return self.data_dir / ENDPOINT_FILE

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        return _tail(self.log_path, lines)

    def start(self, timeout: float = 120.0) -> Self:
        """Launch the broker and return once it answers Kafka metadata requests.

        The timeout is generous because noida reloads its whole JSON snapshot on start (about 6 s for
        600 MB); a broker that dies while starting is reported at once, with its log.
        """
        if self._process is not None:
            raise BrokerError("embedded broker already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = find_running_broker(self.data_dir)
        if running:
            raise BrokerError(f"an embedded broker for {self.data_dir} is already running at {running}")
        if not port_is_free(self.port):
            raise BrokerError(f"port {self.port} on {HOST} is already in use")
        command = [
            str(_binary()), "start", "--only", "kafka",
            "--host", HOST, "--kafka-port", str(self.port), "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals the group, Ctrl-C doesn't reach it
            )  # fmt: skip
        log.info("embedded broker pid %s starting on %s (data in %s)", self._process.pid, self.bootstrap, self.data_dir)
        deadline = time.monotonic() + timeout
        while not kafka_answers(HOST, self.port, timeout=0.5):
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise BrokerError(f"embedded broker exited with code {code} while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"embedded broker did not answer on {self.bootstrap} within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        self.endpoint_path.write_text(
            json.dumps({"bootstrap": self.bootstrap, "pid": self._process.pid}) + "\n", encoding="utf-8"
        )
        log.info("embedded broker ready on %s", self.bootstrap)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the broker's process group, SIGKILL it if it lingers, then wait for the port to be free.

        The generous timeout is for noida writing its whole JSON snapshot on a clean shutdown.
        """
        process, self._process = self._process, None
        if process is None:
            return
        self._signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("embedded broker pid %s ignored SIGTERM for %.0fs; killing it", process.pid, timeout)
        # Also reaps any grandchild that outlived the leader.
        self._signal_group(process.pid, signal.SIGKILL)
        process.wait()
        self.endpoint_path.unlink(missing_ok=True)
        deadline = time.monotonic() + 10
        while not port_is_free(self.port):
            if time.monotonic() > deadline:
                raise BrokerError(f"port {self.port} still busy 10s after the embedded broker stopped")
            time.sleep(0.05)
        log.info("embedded broker on %s stopped (exit code %s)", self.bootstrap, process.returncode)

    @staticmethod
    def _signal_group(pgid: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
