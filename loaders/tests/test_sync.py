"""`chrono-analytics sync` against a real source: changes reach the lake within two cycles, one
instance per lake, the source down and back, an analyst's dbt build in between, SIGTERM.

One sync process runs through the scenario (a cycle takes a few seconds here); every check
reads the lake through its read entry point, never dbt's DuckDB file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import psycopg2
import pytest

from chrono_analytics.lake.reader import Lake
from warehouse_helpers import PROJECT_ROOT, Warehouse, admin_dsn

CLI = str(Path(sys.executable).parent / "chrono-analytics")


class Sync:
    """A `chrono-analytics sync` process on one warehouse, and what it logged."""

    def __init__(self, warehouse: Warehouse, home: Path, *args: str) -> None:
        self.warehouse = warehouse
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "sync.log"
        self.env = {**warehouse.env(), "CHRONO_HOME": str(home)}
        self.env.pop("CHRONO_DUCKDB_PATH")  # the sync uses a DuckDB file of its own
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [CLI, "sync", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def cycles(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "cycle" in line]

    def wait_for_cycles(self, count: int, timeout: float = 180) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cycles = self.cycles()
            if len(cycles) >= count:
                return cycles
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.3)
        raise AssertionError(f"no {count} cycles in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=180)
        self.handle.close()
        return code


def page_status(lake: Lake, page_id: int) -> str | None:
    rows = lake.query(
        "select page_status from content_analytics where scrape_page_id = ?", [page_id]
    )
    return rows[0][0] if rows else None


def admin(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(admin_dsn(dsn))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def move_the_saved_parse_to_a_removed_checkout(target: Path) -> None:
    """Rewrites dbt's saved parse in the target folder `target` (its partial_parse.msgpack)
    as another checkout of the project would have left it: every root_path names a folder
    that does not exist."""

    def moved(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: "/nonexistent/old-checkout" if key == "root_path" else moved(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [moved(item) for item in value]
        return value

    saved = target / "partial_parse.msgpack"
    state = msgpack.unpackb(saved.read_bytes(), raw=False, strict_map_key=False)
    assert str(PROJECT_ROOT) in json.dumps(state, default=str)
    saved.write_bytes(msgpack.packb(moved(state), use_bin_type=True))


@pytest.fixture
def built(make_source_db: Callable[..., str], tmp_path: Path) -> Warehouse:
    dsn = make_source_db(pages=1_500, seed=51)
    warehouse = Warehouse(dsn, tmp_path / "analyst.duckdb", tmp_path / "lake")
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+marts")
    return warehouse


def test_the_sync_loop_keeps_the_marts_current(built: Warehouse, tmp_path: Path) -> None:
    dsn = built.dsn
    lake = Lake(built.lake_root)
    sync = Sync(built, tmp_path / "home", "--interval", "1")
    try:
        first = sync.wait_for_cycles(1)[0]
        assert first["ok"], first["error"]
        # a second instance names the first and exits with status 2
        second = subprocess.run(
            [CLI, "sync", "--once"],
            cwd=PROJECT_ROOT,
            env=sync.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"another sync keeps {built.lake_root} current (pid {sync.process.pid}" in (
            second.stderr
        )

        # an insert, an update, a delete and a domain rename: in the lake within two cycles
        (newest,) = admin(dsn, "select max(id) from scrape_pages")[0]
        updated, deleted = admin(dsn, "select id from scrape_pages order by id limit 2")
        updated_id, deleted_id = updated[0], deleted[0]
        (domain_id,) = admin(
            dsn, "select domain_id from scrape_pages where id = %s", (updated_id,)
        )[0]
        admin(
            dsn,
            "insert into scrape_pages (id, domain_id, original_url, status, created_at, "
            "updated_at) values (%s, %s, 'https://new.example.org/', 'pending', now(), now())",
            (newest + 1, domain_id),
        )
        admin(
            dsn,
            "update scrape_pages set status = 'failed', updated_at = now() where id = %s",
            (updated_id,),
        )
        admin(dsn, "delete from scrape_pages where id = %s", (deleted_id,))
        admin(
            dsn,
            "update domains set domain_name = 'renamed.example.org', updated_at = now() "
            "where id = %s",
            (domain_id,),
        )
        seen = len(sync.cycles())
        sync.wait_for_cycles(seen + 2)
        assert page_status(lake, newest + 1) == "pending"
        assert page_status(lake, updated_id) == "failed"
        assert page_status(lake, deleted_id) is None
        names = lake.query(
            "select distinct domain_name from project_analytics where domain_id = ? "
            "and aggregation_level = 'domain'",
            [domain_id],
        )
        assert names == [("renamed.example.org",)]

        # the source down: one line per attempt, the lake untouched; back: it resumes
        versions = {m: lake.snapshot(m).version for m in lake.marts()}  # type: ignore[union-attr]
        database = dsn.split("dbname=")[1].split()[0]
        server = dsn.replace(f"dbname={database}", "dbname=postgres")
        admin(server, f"alter database {database} allow_connections false")
        admin(
            server,
            f"select pg_terminate_backend(pid) from pg_stat_activity where datname = '{database}'",
        )
        failing = len(sync.cycles())
        try:
            cycles = sync.wait_for_cycles(failing + 2, timeout=120)
        finally:
            admin(
                dsn.replace(f"dbname={database}", "dbname=postgres"),
                f"alter database {database} allow_connections true",
            )
        down = [c for c in cycles[failing:] if not c["ok"]]
        # the probe before a cycle says it, and so does a cycle that was running when the
        # source went (whatever dbt met first)
        assert down, cycles[failing:]
        assert all("does not answer" in c["error"] for c in down), down
        assert all("not currently accepting connections" in c["error"] for c in down), down
        assert all(" password" not in c["error"] for c in down)
        assert {m: lake.snapshot(m).version for m in lake.marts()} == versions  # type: ignore[union-attr]
        admin(
            dsn,
            "update scrape_pages set status = 'completed', updated_at = now() where id = %s",
            (updated_id,),
        )
        deadline = time.monotonic() + 120
        while page_status(lake, updated_id) != "completed":
            assert time.monotonic() < deadline, sync.log.read_text()[-3000:]
            time.sleep(0.5)

        # an analyst's dbt build meanwhile, on the project's own DuckDB file: both go on
        analyst = built.dbt("build", "--select", "marts", check=False)
        assert analyst.returncode == 0, analyst.stdout[-3000:]
        after = len(sync.cycles())
        cycles = sync.wait_for_cycles(after + 1)
        assert cycles[-1]["ok"], cycles[-1]

        status = subprocess.run(
            [CLI, "sync", "status", "--json"],
            cwd=PROJECT_ROOT,
            env=sync.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        shown = json.loads(status.stdout)
        assert shown["running"] is True and shown["marts"]["cdx_records"]["lag_seconds"] < 600
        # SIGTERM in the middle of a cycle (cycles follow each other at this interval)
        sync.wait_for_cycles(len(sync.cycles()) + 1)
        time.sleep(1.0)
    finally:
        code = sync.stop()
    assert code == 0, sync.log.read_text()[-2000:]
    # the current cycle finished (or was abandoned) and the process exited 0, releasing the lake
    assert any(line.get("signal") == "SIGTERM" for line in sync.lines())
    # a rerun converges to what a build from nothing holds; the sync's own cycles are events
    # that the events mart and system_performance_hourly count. It runs as after a deploy of
    # the project into another folder, CHRONO_HOME kept: dbt's saved parse there (which the
    # sync wrote) names the files of a checkout that no longer exists.
    move_the_saved_parse_to_a_removed_checkout(tmp_path / "home" / "sync-target")
    once = subprocess.run(
        [CLI, "sync", "--once"],
        cwd=PROJECT_ROOT,
        env=sync.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert once.returncode == 0, once.stdout[-2000:] + once.stderr[-2000:]
    scratch = Warehouse(dsn, tmp_path / "scratch.duckdb", tmp_path / "scratch_lake")
    scratch.dbt("seed")
    scratch.dbt("run", "--select", "+cdx_records", "+content_analytics")
    for mart, key in (("cdx_records", "record_id"), ("content_analytics", "content_id")):
        with lake.connect() as ours, Lake(scratch.lake_root).connect() as theirs:
            assert ours.execute(f"select * from {mart} order by {key}").fetchall() == (
                theirs.execute(f"select * from {mart} order by {key}").fetchall()
            ), mart
    components = lake.query("select distinct source_component from system_performance_hourly")
    assert ("analytics_sync",) in components

    # a repair of the source that keeps updated_at: no incremental run reads it again, a
    # backfill of its days does (and nothing else is written)
    (repaired,) = admin(
        dsn, "select id from scrape_pages where status <> 'skipped' order by id desc limit 1"
    )[0]
    (day,) = admin(
        dsn,
        "select (created_at at time zone 'UTC')::date from scrape_pages where id = %s",
        (repaired,),
    )[0]
    admin(dsn, "update scrape_pages set status = 'skipped' where id = %s", (repaired,))
    backfill = subprocess.run(
        [CLI, "backfill", "--from", str(day), "--to", str(day), "--no-progress"],
        cwd=PROJECT_ROOT,
        env={**sync.env, "CHRONO_DUCKDB_PATH": str(built.duckdb_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert backfill.returncode == 0, backfill.stdout[-2000:] + backfill.stderr[-2000:]
    assert page_status(lake, repaired) == "skipped"
    assert lake.snapshot("cdx_records").run["changed_rows"] == 1  # type: ignore[union-attr]
