"""The chdb gateway: one process owns a chdb data dir and serves it over ClickHouse's HTTP interface.

chdb locks its data dir to a single process ("Cannot lock file .../status"), yet the stream workers, the
`dvcpulse sql` command and the live view all need the same embedded database. One process runs
`ChdbServer` (`dvcpulse db serve`); every other process finds it with
`dvcpulse.sinks.chdb_endpoint.find_running_server` and talks to it with an ordinary clickhouse-connect
HTTP client.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from dvcpulse.sinks.chdb_endpoint import find_running_server, remove_endpoint, write_endpoint
from dvcpulse.sinks.chdb_engine import Engine
from dvcpulse.sinks.chdb_http import HttpServer

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 30.0


class ChdbServer:
    """Owns one chdb data dir while running and serves it over the ClickHouse HTTP interface.

    Engine calls are serialised by default (`max_concurrency=1`).
    """

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0, *, max_concurrency: int = 1) -> None:
        self.path = Path(path).resolve()
        self.host = host
        self.port = port
        self._engine = Engine(self.path, max_concurrency)
        self._httpd: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the chdb server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Take the data dir, listen, and publish the endpoint; fails if another process serves the dir."""
        with self._lock:
            if self._httpd is not None:
                raise RuntimeError("the chdb server is already running")
            other = find_running_server(self.path)
            if other:  # chdb's own lock error would be much less helpful
                raise RuntimeError(f"the chdb data dir {self.path} is already served at {other}")
            self._engine.open()
            try:
                httpd = HttpServer((self.host, self.port), self._engine)
            except BaseException:
                self._engine.close()
                raise
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="chdb-server", daemon=True
            )
            self._thread.start()
            write_endpoint(self.path, self.url)
            log.info("chdb server for %s listening on %s", self.path, self.url)

    def stop(self) -> None:
        """Withdraw the endpoint, finish in-flight requests (up to 30 s), then release the data dir."""
        with self._lock:
            httpd, self._httpd = self._httpd, None
            if httpd is None:
                return
            remove_endpoint(self.path)
            httpd.shutdown()  # stop accepting; returns once serve_forever has left its loop
            httpd.server_close()
            httpd.drain(_DRAIN_TIMEOUT_S)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._engine.close()
            log.info("chdb server for %s stopped", self.path)

    def __enter__(self) -> ChdbServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(path: Path, host: str = "127.0.0.1", port: int = 0, *, max_concurrency: int = 1) -> None:
    """Run a server in the foreground until SIGTERM or SIGINT, then stop it cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = ChdbServer(path, host, port, max_concurrency=max_concurrency)
    try:
        server.start()
        print(f"chdb server for {server.path} listening on {server.url}", flush=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    """`python -m dvcpulse.sinks.chdb_server --path DIR`: `serve_forever` with engine concurrency exposed."""
    parser = argparse.ArgumentParser(prog="python -m dvcpulse.sinks.chdb_server", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", type=Path, required=True, help="chdb data dir to own")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--max-concurrency", type=int, default=1, help="engine calls run at once (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve_forever(args.path, args.host, args.port, max_concurrency=args.max_concurrency)
    except (RuntimeError, OSError) as ex:  # data dir taken, port in use: a message, not a traceback
        raise SystemExit(f"chdb server: {ex}") from None


if __name__ == "__main__":
    main()
