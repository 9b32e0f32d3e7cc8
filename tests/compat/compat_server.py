"""Start/stop a tracking server (official `mlflow server` or our Rust binary) and manage
throw-away databases for the compatibility suite.

Environment:
  MLFLOW_RS_BIN      path to the mlflow-rs binary; when set, the suite runs against it
  COMPAT_BACKEND     sqlite (default) | postgres | mysql
  COMPAT_PG_DSN      base DSN for PostgreSQL (default postgres@127.0.0.1:5432)
  COMPAT_MYSQL_DSN   base DSN for MySQL/MariaDB (default root@127.0.0.1:3306)
  COMPAT_SERVER_LOG_DIR  keep server logs there (default: inside the per-server temp dir)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import requests

OFFICIAL = "official"
RUST = "rust"

PG_DSN = os.environ.get("COMPAT_PG_DSN", "postgres@127.0.0.1:5432")
MYSQL_DSN = os.environ.get("COMPAT_MYSQL_DSN", "root@127.0.0.1:3306")


def backend_name() -> str:
    b = os.environ.get("COMPAT_BACKEND", "sqlite").strip().lower()
    if b in ("pg", "postgresql"):
        b = "postgres"
    if b not in ("sqlite", "postgres", "mysql"):
        raise ValueError(f"COMPAT_BACKEND must be sqlite|postgres|mysql, got {b!r}")
    return b


def rs_bin() -> str | None:
    return os.environ.get("MLFLOW_RS_BIN") or None


def default_kind() -> str:
    return RUST if rs_bin() else OFFICIAL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    """A fresh, uniquely named database. `uri(kind)` gives the backend-store URI that the
    given server kind understands (SQLAlchemy 2.1 needs an explicit driver; we pass the
    plain scheme to the Rust binary)."""

    backend: str
    name: str
    tmpdir: str
    _dropped: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, backend: str | None = None, prefix: str = "compat") -> "Database":
        backend = backend or backend_name()
        tmpdir = tempfile.mkdtemp(prefix=f"mlflow-{prefix}-")
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        if backend == "postgres":
            import psycopg2

            conn = psycopg2.connect(_pg_conninfo("postgres"))
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
            conn.close()
        elif backend == "mysql":
            import pymysql

            conn = pymysql.connect(**_mysql_kwargs(), autocommit=True)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}`")
            conn.close()
        return cls(backend, name, tmpdir)

    def uri(self, kind: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{os.path.join(self.tmpdir, 'mlflow.db')}"
        if self.backend == "postgres":
            scheme = "postgresql+psycopg2" if kind == OFFICIAL else "postgresql"
            return f"{scheme}://{PG_DSN}/{self.name}"
        scheme = "mysql+pymysql" if kind == OFFICIAL else "mysql"
        return f"{scheme}://{MYSQL_DSN}/{self.name}"

    @property
    def artifacts_dir(self) -> str:
        d = os.path.join(self.tmpdir, "artifacts")
        os.makedirs(d, exist_ok=True)
        return d

    def drop(self) -> None:
        if self._dropped:
            return
        self._dropped = True
        try:
            if self.backend == "postgres":
                import psycopg2

                conn = psycopg2.connect(_pg_conninfo("postgres"))
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                conn.close()
            elif self.backend == "mysql":
                import pymysql

                conn = pymysql.connect(**_mysql_kwargs(), autocommit=True)
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
                conn.close()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def _pg_conninfo(dbname: str) -> str:
    m = re.match(r"(?:(?P<user>[^@:]+)(?::(?P<pw>[^@]*))?@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?", PG_DSN)
    parts = [f"host={m['host']}", f"port={m['port'] or 5432}", f"dbname={dbname}"]
    if m["user"]:
        parts.append(f"user={m['user']}")
    if m["pw"]:
        parts.append(f"password={m['pw']}")
    return " ".join(parts)


def _mysql_kwargs() -> dict:
    m = re.match(r"(?:(?P<user>[^@:]+)(?::(?P<pw>[^@]*))?@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?", MYSQL_DSN)
    return dict(host=m["host"], port=int(m["port"] or 3306), user=m["user"] or "root", password=m["pw"] or "")


# --------------------------------------------------------------------------- servers


class Server:
    def __init__(self, kind: str, db: Database, startup_timeout: float = 180.0):
        self.kind = kind
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir = os.environ.get("COMPAT_SERVER_LOG_DIR") or db.tmpdir
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(log_dir, f"server-{kind}-{self.port}.log")
        self.proc: subprocess.Popen | None = None
        self.startup_timeout = startup_timeout

    def command(self) -> list[str]:
        common = [
            "--backend-store-uri",
            self.db.uri(self.kind),
            "--artifacts-destination",
            self.db.artifacts_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.kind == RUST:
            binary = rs_bin()
            if not binary:
                raise RuntimeError("MLFLOW_RS_BIN is not set")
            return [binary, "server", *common]
        return [sys.executable, "-m", "mlflow", "server", *common, "--workers", "1"]

    def start(self) -> "Server":
        env = dict(os.environ)
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env.pop("MLFLOW_TRACKING_URI", None)
        # test_webhooks.py delivers to a receiver on 127.0.0.1; a fixed Fernet key keeps secrets
        # readable across workers/restarts, a 1 s cache makes new webhooks fire at once.
        env.setdefault("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
        env.setdefault("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
        env.setdefault("MLFLOW_WEBHOOK_CACHE_TTL", "1")
        env.setdefault("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", "Fh9oXQk9s3CXZ0V2ciQ6Kx4nZBIoVRVDj-mWPWwEODs=")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # own process group: we kill the whole group
        )
        deadline = time.time() + self.startup_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                r = requests.get(self.url + "/health", timeout=2)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.kind} server did not become healthy:\n{self.log_tail()}")

    def log_tail(self, n: int = 60, head: int = 15) -> str:
        """First `head` and last `n` lines of the server log (errors often come first)."""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().splitlines()
        except OSError:
            return "<no log>"
        if len(lines) > head + n:
            lines = lines[:head] + [b"[...]"] + lines[-n:]
        return b"\n".join(lines).decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # leader of its own session/process group
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.time() + wait
            while time.time() < deadline:
                if self.proc.poll() is not None and not _group_alive(pgid):
                    break
                time.sleep(0.2)
            else:
                continue
            break
        try:
            os.killpg(pgid, signal.SIGKILL)  # stragglers (workers) if any
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
