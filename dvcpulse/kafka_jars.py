"""Apache Kafka's broker jars for the development broker: fetched once with Maven, then reused.

The versions are pinned in `dvcpulse/kafka/pom.xml`. The jars land in a folder named after the Kafka
version: `<checkout>/.kafka/<version>` when dvcpulse runs from a checkout (as `make up` and `make test` do),
else `~/.cache/dvcpulse/kafka/<version>`; `DVCPULSE_KAFKA_CACHE` overrides the parent folder. A lock file
lets several processes (tests, `dvcpulse up`) ask at once: one fetches, the others wait and reuse.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path

log = logging.getLogger(__name__)

POM = Path(str(files("dvcpulse") / "kafka" / "pom.xml"))
LOG4J_CONFIG = Path(str(files("dvcpulse") / "kafka" / "log4j2.yaml"))
_COMPLETE = ".complete"  # written last: a folder without it is an interrupted fetch
FETCH_TIMEOUT_SECONDS = 900


class KafkaJarsError(RuntimeError):
    """Kafka's jars are not cached and could not be fetched."""


@cache
def kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text(encoding="utf-8"))
    if match is None:
        raise KafkaJarsError(f"no <kafka.version> in {POM}")
    return match.group(1).strip()


def cache_root() -> Path:
    override = os.environ.get("DVCPULSE_KAFKA_CACHE")
    if override:
        return Path(override).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        return checkout / ".kafka"
    return Path.home() / ".cache" / "dvcpulse" / "kafka"


def kafka_jars() -> Path:
    """The folder holding every jar of the pinned Kafka broker, fetched with Maven on first use."""
    target = cache_root() / kafka_version()
    if (target / _COMPLETE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{kafka_version()}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (target / _COMPLETE).is_file():
            _fetch(target)
    return target


def _fetch(target: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaJarsError(
            "Maven (`mvn`) is needed once, to fetch Apache Kafka's jars for the development broker: "
            "install it (Debian: `apt-get install maven`) or set KAFKA_BOOTSTRAP to a running Kafka."
        )
    log.warning("fetching Apache Kafka %s's jars with Maven into %s (once)", kafka_version(), target)
    staging = Path(tempfile.mkdtemp(prefix=".fetching-", dir=target.parent))
    command = [
        mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            detail = (done.stdout + done.stderr).strip()[-3000:]
            raise KafkaJarsError(f"Maven could not fetch Kafka {kafka_version()} ({' '.join(command)}):\n{detail}")
        if not any(staging.glob("kafka_2.13-*.jar")):
            raise KafkaJarsError(f"Maven ran but left no kafka_2.13 jar in {staging}")
        (staging / _COMPLETE).write_text(kafka_version() + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
