"""Helpers shared by the test modules: run dbt against a given source and lake, and the
reference Wayback timestamp parser."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from psycopg2.extensions import make_dsn, parse_dsn

from chrono_analytics import text_measures
from chrono_analytics.config import ADMIN_ROLE
from chrono_analytics.duckdb_setup import install_postgres_extension

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Under pytest-xdist, each worker runs dbt with a target folder of its own (two dbt processes
# writing one target/ would race on its manifest and partial-parse files).
TARGET = PROJECT_ROOT / (
    f"target-{os.environ['PYTEST_XDIST_WORKER']}"
    if os.environ.get("PYTEST_XDIST_WORKER")
    else "target"
)
# The warehouse paths dbt is given, relative to the folder it runs in (the DuckDB file's):
# dbt parses the whole project again whenever a profile value changes, and a partial parse
# saves 2-5 s a command, so every warehouse named chrono.duckdb beside its lake/ shares the
# worker's saved parse.
RELATIVE_TO_RUN_FOLDER = ("CHRONO_DUCKDB_PATH", "CHRONO_LAKE_ROOT")
DBT = str(Path(sys.executable).parent / "dbt")
# Every mart of the project: the public models, stored in the lake.
MARTS = (
    "cdx_records",
    "content_analytics",
    "project_analytics",
    "events",
    "content_quality_daily",
    "domain_archive_monthly",
    "system_performance_hourly",
    "project_performance_daily",
    "project_activity_daily",
    "domain_archive_summary",
    "performance_daily",
    "project_members",
)


class DbtCommandServer:
    """Runs dbt commands in children forked from dbt_fork_server.py (dbt imported once per
    pytest worker: about 2.5 s saved per command), each a process of its own with the
    command's environment, folder and argv. A command asked for while another is running (from
    another thread) runs as a new process instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: subprocess.Popen[str] | None = None

    def run(
        self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        if not self._lock.acquire(blocking=False):
            return subprocess.run(
                [DBT, *argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
        try:
            with tempfile.TemporaryDirectory(prefix="dbt-command-") as folder:
                out, err = Path(folder, "stdout"), Path(folder, "stderr")
                request = {
                    "args": list(argv),
                    "env": dict(env),
                    "cwd": str(cwd),
                    "stdout": str(out),
                    "stderr": str(err),
                }
                returncode = self._ask(request)
                return subprocess.CompletedProcess(
                    [DBT, *argv],
                    returncode,
                    out.read_text(errors="replace"),
                    err.read_text(errors="replace"),
                )
        finally:
            self._lock.release()

    def _ask(self, request: dict[str, object]) -> int:
        server = self._server
        if server is None or server.poll() is not None:
            server = self._server = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("dbt_fork_server.py"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            atexit.register(server.kill)
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        reply = server.stdout.readline()
        if not reply:
            raise RuntimeError(f"the dbt command server exited ({server.wait()})")
        return int(json.loads(reply)["returncode"])


DBT_COMMANDS = DbtCommandServer()


def target_folder(project: Path, args: tuple[str, ...]) -> Path:
    """The worker's target folder for dbt commands on `project` with the --vars of `args`:
    dbt keeps one saved parse per folder and parses the whole project again when the vars
    change, so each vars value gets a folder of its own."""
    name = TARGET.name if project == PROJECT_ROOT else f"{TARGET.name}-{project.name}"
    if "--vars" in args:
        vars_hash = hashlib.sha256(args[args.index("--vars") + 1].encode()).hexdigest()
        name += f"-vars-{vars_hash[:12]}"
    return TARGET.with_name(name)


def admin_dsn(dsn: str) -> str:
    """The admin role's DSN for the test database of the warehouse DSN `dsn` (what
    make_source_db returns): for tests that change source rows, which the warehouse's role
    cannot do."""
    return make_dsn(**{**parse_dsn(dsn), "user": ADMIN_ROLE})


@dataclass(frozen=True)
class Warehouse:
    """One isolated target: a source DSN (the warehouse's read-only role, as dbt uses it), a
    DuckDB file and a lake folder."""

    dsn: str
    duckdb_path: Path
    lake_root: Path

    @property
    def admin_dsn(self) -> str:
        """The same source database as the admin role (see admin_dsn())."""
        return admin_dsn(self.dsn)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CHRONO_PG_DSN=self.dsn,
            CHRONO_DUCKDB_PATH=str(self.duckdb_path),
            CHRONO_LAKE_ROOT=str(self.lake_root),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            DBT_TARGET_PATH=str(TARGET),
        )
        env.pop("CHRONO_PG_PORT", None)
        return env

    def dbt(
        self,
        *args: str,
        check: bool = True,
        project_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run dbt on the project (or `project_dir`, a dbt project with its own profiles.yml),
        with `extra_env` added to the environment; on failure show its output in the
        assertion. dbt runs as a process of its own (forked by DBT_COMMANDS) in the DuckDB
        file's folder, given the warehouse's paths relative
        to it (RELATIVE_TO_RUN_FOLDER), and saves its parse in the worker's target folder of
        that project and --vars value (target_folder), unless `args` or `extra_env` name
        another."""
        project = project_dir or PROJECT_ROOT
        folder = self.duckdb_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        env = {**self.env(), **(extra_env or {})}
        lake_root = env.get("CHRONO_LAKE_ROOT", "")
        if not env.get("CHRONO_EVENTS_ROOT") and os.path.isabs(lake_root):
            # the events source's default (<lake root>/raw/events), made absolute here: the
            # staging views keep the path they were built with
            env["CHRONO_EVENTS_ROOT"] = os.path.join(lake_root, "raw", "events")
        for name in RELATIVE_TO_RUN_FOLDER:
            if os.path.isabs(env.get(name, "")):
                env[name] = os.path.relpath(env[name], folder)
        if "--target-path" not in args and "DBT_TARGET_PATH" not in (extra_env or {}):
            env["DBT_TARGET_PATH"] = str(target_folder(project, args))
        result = DBT_COMMANDS.run(
            [
                *args,
                *("--project-dir", str(project), "--profiles-dir", str(project)),
                *("--log-path", str(folder / "dbt-logs")),
            ],
            cwd=folder,
            env=env,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"dbt {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def connect(self, attach_source: bool = True) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to the warehouse file, with the source attached read-only as
        chrono_pg like dbt does, but as the admin role: tests inspect every column, the
        secret ones included, which the warehouse's role cannot select."""
        conn = duckdb.connect(str(self.duckdb_path))
        if attach_source:
            install_postgres_extension(conn)
            conn.execute(f"attach '{self.admin_dsn}' as chrono_pg (type postgres, read_only)")
            text_measures.register(conn)  # as the dbt plugin does: the pages' view counts words
        return conn


def reference_wayback(raw: str | None) -> datetime | None:
    """A Wayback timestamp (YYYYMMDDhhmmss, UTC) parsed by Python's strptime: the independent
    reference the tests hold the SQL parser to. NULL for anything that is not 14 digits of a
    real date and time."""
    if raw is None or len(raw) != 14 or not raw.isdigit():
        return None
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
