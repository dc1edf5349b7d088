"""Start and stop the real Neo4j 5 engine of ``tools/neo4j-dev`` (plain java, no Docker).

    python -m tests.neo4j_engine start|stop|status

The tests start their own engine on a free port with a throw-away data directory; ``make
neo4j-start`` starts a development one on 127.0.0.1:7687 with data under ``.neo4j-dev/``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "tools" / "neo4j-dev"
CLASSPATH = LAUNCHER / "target" / "classpath.txt"
DEV_HOME = ROOT / ".neo4j-dev"
# Memory, from the environment: NEO4J_DEV_HEAP (the JVM's heap, default 1g) and NEO4J_DEV_PAGECACHE_MB
# (Neo4j's page cache, default 512). Loads of problems are staged in bounded batches, so the heap
# need not grow with a ledger; the page cache is best the size of the store on disk. Measured
# (docs/benchmarks.md, "Province scale"): Chongqing's term, a 200,000-row ledger, Sichuan's term and
# three terms of it (666,885 problems, a 2.1 GB store) load at the default 1g; for a province give
# NEO4J_DEV_HEAP=2g and NEO4J_DEV_PAGECACHE_MB at least the store's size.
HEAP = os.environ.get("NEO4J_DEV_HEAP", "1g")
# What Neo4j's own neo4j.conf passes to the JVM, so Netty and the page cache may use NIO internals.
JVM_FLAGS = [
    "-Xms256m", f"-Xmx{HEAP}", "-XX:+UseG1GC", "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.nio.maxCachedBufferSize=1024", "-XX:-OmitStackTraceInFastThrow",
    "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED", "--enable-native-access=ALL-UNNAMED",
]


class EngineError(RuntimeError):
    pass


@dataclass
class Engine:
    process: subprocess.Popen | None
    port: int
    home: Path
    password: str

    @property
    def uri(self) -> str:
        return f"neo4j://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def java_available() -> str | None:
    """The reason the engine cannot run here, or None."""
    if shutil.which("java") is None:
        return "no Java on this machine (Java 17+ runs the Neo4j engine)"
    if not CLASSPATH.exists() and shutil.which("mvn") is None:
        return "no Maven on this machine (Maven builds the Neo4j launcher's classpath)"
    return None


def required() -> bool:
    """Under CI=true a missing engine fails the run: a green CI must have run the Neo4j half."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineError(f"Neo4j exited with code {process.returncode}; log {log}:\n{log.read_text()[-3000:]}")
        if "ready on bolt" in log.read_text(errors="replace"):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
        time.sleep(0.3)
    process.kill()
    raise EngineError(f"Neo4j did not open port {port} within {timeout:.0f} s; log {log}")


def start(home: Path, port: int, password: str, timeout: float = 180, settings: dict | None = None) -> Engine:
    """An engine on ``port`` with its data in ``home``; ``settings``: more of the launcher's
    environment (e.g. ``NEO4J_DEV_TX_MAX_MB``)."""
    reason = java_available()
    if reason:
        raise EngineError(reason)
    if not CLASSPATH.exists():
        build = subprocess.run(["make", "--no-print-directory", "neo4j-classpath"], cwd=ROOT)
        if build.returncode != 0 or not CLASSPATH.exists():
            raise EngineError("could not build the Neo4j launcher (make neo4j-classpath)")
    home.mkdir(parents=True, exist_ok=True)
    log = home / "neo4j-dev.log"
    classpath = f"{LAUNCHER / 'target' / 'classes'}{os.pathsep}{CLASSPATH.read_text().strip()}"
    env = {**os.environ, **(settings or {}), "NEO4J_DEV_HOME": str(home), "NEO4J_DEV_PORT": str(port),
           "NEO4J_PASSWORD": password}
    with open(log, "w") as out:
        process = subprocess.Popen(["java", *JVM_FLAGS, "-cp", classpath, "xuncha.Neo4jDev"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for_port(port, process, log, timeout)
    return Engine(process, port, home, password)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    pid_file = DEV_HOME / "pid"
    password = os.environ.get("NEO4J_PASSWORD")
    if command == "start":
        if not password or len(password) < 8:
            print("set NEO4J_PASSWORD (8 characters or more) first: there is no default password", file=sys.stderr)
            return 2
        if pid_file.exists():
            print(f"already running (pid {pid_file.read_text().strip()}); make neo4j-stop first")
            return 0
        engine = start(DEV_HOME, int(os.environ.get("NEO4J_DEV_PORT", "7687")), password)
        pid_file.write_text(str(engine.process.pid))
        print(f"Neo4j 5 on {engine.uri} (user neo4j, password from NEO4J_PASSWORD), data in {DEV_HOME}; "
              f"heap {HEAP} (NEO4J_DEV_HEAP), page cache {os.environ.get('NEO4J_DEV_PAGECACHE_MB', '512')} MB "
              "(NEO4J_DEV_PAGECACHE_MB); for a province see README, Neo4j")
        return 0
    if command == "stop":
        if not pid_file.exists():
            print("not running")
            return 0
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(120):
                os.kill(pid, 0)
                time.sleep(0.5)
        except ProcessLookupError:
            pass
        pid_file.unlink()
        print("stopped")
        return 0
    print("running" if pid_file.exists() else "not running")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except EngineError as exc:
        print(f"neo4j-dev: {exc}", file=sys.stderr)
        sys.exit(1)
