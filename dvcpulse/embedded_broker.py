"""The development broker: Apache Kafka itself, run as a single-node KRaft broker in a child JVM.

Used by `dvcpulse broker`, `dvcpulse up`, the tests and the benchmarks; everything else in dvcpulse only
sees a bootstrap address, so the same code runs on any Kafka. Its data dir holds:

    server.properties   generated on every start (loopback listeners, bounded heap, dev-sized segments)
    ports.json          the broker's and controller's ports, reused while free: clients of an earlier run
                        and a restarted broker agree on the address
    kafka-logs/         Kafka's log dir, formatted on first start (KRaft metadata and topic data)
    broker.log          Kafka's own log (size-bounded, rolled); broker.out: anything the JVM prints
    endpoint.json       bootstrap and pid of the running broker (removed on a clean stop)
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from dvcpulse.kafka_jars import LOG4J_CONFIG, kafka_jars
from dvcpulse.processes import pid_alive

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ENDPOINT_FILE = "endpoint.json"
PORTS_FILE = "ports.json"
LOG_FILE = "broker.log"
OUT_FILE = "broker.out"
LOG_DIR = "kafka-logs"
NODE_ID = 1
HEAP = "512m"  # the JVM's heap; Kafka keeps its data in the OS page cache, outside it
# As Kafka's own start script runs the broker (kafka-run-class.sh), with a bounded heap.
JVM_OPTIONS = [
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
]  # fmt: skip
MIN_JAVA = 17


class BrokerError(RuntimeError):
    """The development broker could not be started or stopped."""


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
    """True when host:port answers a Kafka Metadata request (v4, no topics) listing at least one broker.

    A raw-socket probe rather than an aiokafka client, so it works with or without a running event loop.
    v4 is the oldest Metadata version Kafka 4 still serves; a broker lists itself once it has registered.
    """
    client_id = b"dvcpulse-probe"
    correlation_id = 0x0D5C
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    request = header + struct.pack(">ib", 0, 0)  # an empty topic list, no auto-creation
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            if not 12 <= size <= 16 * 1024 * 1024:
                return False
            body = _recv_exact(sock, size)
    except OSError:
        return False
    received_id, _throttle_ms, broker_count = struct.unpack(">iii", body[:12])
    return received_id == correlation_id and broker_count >= 1


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks += chunk
    return bytes(chunks)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def java_command() -> str:
    """The `java` of JAVA_HOME, else of PATH, checked to be Java 17 or newer (Kafka 4's broker needs it)."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise BrokerError(
            f"a Java {MIN_JAVA}+ runtime is needed for the development Kafka broker (Debian: "
            f"`apt-get install openjdk-{MIN_JAVA}-jre-headless`), or set KAFKA_BOOTSTRAP to a running Kafka."
        )
    printed = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    match = re.search(r'version "(\d+)', printed)
    if match is None or int(match.group(1)) < MIN_JAVA:
        raise BrokerError(f"Kafka's broker needs Java {MIN_JAVA} or newer; {java} says: {printed.strip()[:200]}")
    return java


def new_cluster_id() -> str:
    """A random KRaft cluster id: a UUID in URL-safe base64 without padding, as `kafka-storage random-uuid`
    makes them, and like Kafka's Uuid.randomUuid never starting with "-" (the format command would take
    such an id for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def find_running_broker(data_dir: Path) -> str | None:
    """Bootstrap address of a live development broker for data_dir, else None (a stale endpoint file is removed)."""
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


def server_properties(log_dir: Path, port: int, controller_port: int) -> str:
    """A single-node KRaft broker (broker and controller in one JVM) on loopback, sized for development."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": NODE_ID,
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        # One node: every internal topic with one replica, few partitions (fast first group join).
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 8,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 4,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "num.partitions": 1,
        # As in docker-compose.yml: topics are created by dvcpulse with their partition counts, never by a
        # stray metadata request or produce (which would give one partition and silently cap the workers).
        "auto.create.topics.enable": "false",
        # A group's first rebalance starts at once (Kafka waits 3 s by default for more members to join).
        "group.initial.rebalance.delay.ms": 0,
        # Dev-sized segments, a week of retention, and a bound on the whole log dir's growth per partition.
        "log.segment.bytes": 64 * 1024 * 1024,
        "log.retention.hours": 168,
        "log.retention.bytes": 2 * 1024 * 1024 * 1024,
        "log.retention.check.interval.ms": 60_000,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "num.recovery.threads.per.data.dir": 2,
        "message.max.bytes": 16 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


class EmbeddedBroker:
    """Apache Kafka as a single-node KRaft broker bound to loopback, with its data in data_dir."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port, self.controller_port = self._ports(port)
        self._process: subprocess.Popen[bytes] | None = None

    def _ports(self, port: int | None) -> tuple[int, int]:
        """The ports of an earlier run of this data dir while they are free, else new ones."""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            saved = json.loads((self.data_dir / PORTS_FILE).read_text(encoding="utf-8"))
            saved_ports = int(saved["port"]), int(saved["controller_port"])
            if port in (None, saved_ports[0]) and all(port_is_free(p) for p in saved_ports):
                return saved_ports
        port = port if port is not None else free_port()
        controller_port = free_port()
        while controller_port == port:
            controller_port = free_port()
        return port, controller_port

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

    @property
    def kafka_log_dir(self) -> Path:
        return self.data_dir / LOG_DIR

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        printed = _tail(self.data_dir / OUT_FILE, lines)
        logged = _tail(self.log_path, lines)
        return "\n".join(part for part in (printed, logged) if part) or "(the broker's logs are empty)"

    def _java(self, java: str, main_class: str, *args: str, heap: str) -> list[str]:
        return [
            java, f"-Xmx{heap}", *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={self.data_dir}",
            "-cp", str(kafka_jars() / "*"), main_class, *args,
        ]  # fmt: skip

    def _format_storage(self, java: str, properties: Path) -> None:
        """Format the log dir for KRaft once (a new cluster id); later starts find meta.properties and skip."""
        if (self.kafka_log_dir / "meta.properties").is_file():
            return
        cluster_id = new_cluster_id()
        command = self._java(
            java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties), heap="256m"
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise BrokerError(f"formatting {self.kafka_log_dir} failed:\n{(done.stdout + done.stderr)[-2000:]}")
        log.info("formatted %s for KRaft (cluster id %s)", self.kafka_log_dir, cluster_id)

    def start(self, timeout: float = 120.0) -> Self:
        """Launch the broker and return once it answers Kafka metadata requests listing itself."""
        if self._process is not None:
            raise BrokerError("development broker already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = find_running_broker(self.data_dir)
        if running:
            raise BrokerError(f"a development broker for {self.data_dir} is already running at {running}")
        for port in (self.port, self.controller_port):
            if not port_is_free(port):
                raise BrokerError(f"port {port} on {HOST} is already in use")
        java = java_command()
        properties = self.data_dir / "server.properties"
        properties.write_text(
            server_properties(self.kafka_log_dir, self.port, self.controller_port), encoding="utf-8"
        )
        (self.data_dir / PORTS_FILE).write_text(
            json.dumps({"port": self.port, "controller_port": self.controller_port}) + "\n", encoding="utf-8"
        )
        self._format_storage(java, properties)
        with (self.data_dir / OUT_FILE).open("ab") as out:
            self._process = subprocess.Popen(
                self._java(java, "kafka.Kafka", str(properties), heap=HEAP),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: Ctrl-C in a terminal doesn't reach it; stop() does
            )  # fmt: skip
        log.info("Kafka broker pid %s starting on %s (data in %s)", self._process.pid, self.bootstrap, self.data_dir)
        deadline = time.monotonic() + timeout
        while not kafka_answers(HOST, self.port, timeout=0.5):
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise BrokerError(f"the Kafka broker exited with code {code} while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"the Kafka broker did not answer on {self.bootstrap} within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self.endpoint_path.write_text(
            json.dumps({"bootstrap": self.bootstrap, "pid": self._process.pid}) + "\n", encoding="utf-8"
        )
        log.info("Kafka broker ready on %s", self.bootstrap)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (Kafka's controlled shutdown), SIGKILL if it lingers, then wait until both ports are free."""
        process, self._process = self._process, None
        if process is None:
            return
        self._signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("Kafka broker pid %s ignored SIGTERM for %.0fs; killing it", process.pid, timeout)
        self._signal_group(process.pid, signal.SIGKILL)  # also reaps anything left in its group
        process.wait()
        self.endpoint_path.unlink(missing_ok=True)
        self._wait_for_ports()
        log.info("Kafka broker on %s stopped (exit code %s)", self.bootstrap, process.returncode)

    def kill(self) -> None:
        """SIGKILL, as a crash would (for fault tests): no controlled shutdown, log recovery on the next start."""
        process, self._process = self._process, None
        if process is None:
            return
        self._signal_group(process.pid, signal.SIGKILL)
        process.wait()
        self._wait_for_ports()

    def _wait_for_ports(self) -> None:
        deadline = time.monotonic() + 10
        while not (port_is_free(self.port) and port_is_free(self.controller_port)):
            if time.monotonic() > deadline:
                raise BrokerError(f"ports {self.port}/{self.controller_port} still busy 10s after the broker stopped")
            time.sleep(0.05)

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

