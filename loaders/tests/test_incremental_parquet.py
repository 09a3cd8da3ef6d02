"""The incremental_parquet materialization (macros/materializations/) against a real PostgreSQL
source and real Parquet files, through the fixture project in fixtures/incremental_project.

Expected rows are computed in Python from the source rows (archive year by strptime), not by
the SQL under test. Each test that changes source rows has a database of its own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from warehouse_helpers import Warehouse, admin_dsn, reference_wayback, run_summary

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "incremental_project"
PAGES = 5_000
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
HIVE_TYPES = {
    "pages_by_year": "{'archive_year': integer}",
    "pages_by_month": "{'archive_year': integer, 'archive_month': integer}",
    "pages_by_domain_group": "{'domain_group': integer}",
}
# lake.py has two more points (during_phase1, after_phase2); these cover each step of a run
INCREMENTAL_CRASH_POINTS = (
    "before_staging",
    "after_staging",
    "after_journal",
    "after_phase1",
    "during_phase2",
    "after_swap",
)
FULL_REFRESH_CRASH_POINTS = ("during_phase2",)

Row = tuple[Any, ...]


# -- helpers -----------------------------------------------------------------------------------


def archive_year(raw: str | None) -> int | None:
    parsed = reference_wayback(raw)
    return None if parsed is None else parsed.year


def archive_month(raw: str | None) -> int | None:
    year = archive_year(raw)
    return None if year is None or raw is None else int(raw[4:6])


def sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[Row]:
    """Run one statement on the source (committed) as the admin role, since the warehouse's
    role `dsn` names cannot write; its rows when it returns any."""
    conn = psycopg2.connect(admin_dsn(dsn))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def source_pages(dsn: str) -> dict[int, Row]:
    """pages_by_year computed from the source in Python."""
    rows = sql(
        dsn,
        "select id, domain_id, unix_timestamp, status, retry_count, updated_at from scrape_pages",
    )
    return {
        row[0]: (row[0], row[1], row[2], row[3], row[4], archive_year(row[2]), row[5])
        for row in rows
    }


def source_max_updated_at(dsn: str) -> datetime:
    value = sql(dsn, "select max(updated_at) from scrape_pages")[0][0]
    assert isinstance(value, datetime)
    return value


def touch(dsn: str, ids: list[int], assignments: str, updated_at: datetime) -> None:
    """UPDATE the given pages as the application would (setting updated_at)."""
    affected = sql(
        dsn,
        f"update scrape_pages set {assignments}, updated_at = %s where id = any(%s) returning id",
        (updated_at, ids),
    )
    assert sorted(r[0] for r in affected) == sorted(ids)


def insert_page(dsn: str, page_id: int, wayback: str, updated_at: datetime) -> None:
    sql(
        dsn,
        "insert into scrape_pages (id, domain_id, original_url, unix_timestamp, status, "
        "created_at, updated_at) values (%s, 1, %s, %s, 'pending', %s, %s)",
        (page_id, f"https://example.org/new/{page_id}", wayback, updated_at, updated_at),
    )


def ids_in_year(pages: dict[int, Row], year: int | None, count: int, skip: int = 0) -> list[int]:
    found = sorted(page_id for page_id, row in pages.items() if row[5] == year)
    assert len(found) >= skip + count, (year, len(found))
    return found[skip : skip + count]


@dataclass(frozen=True)
class FileState:
    mtime_ns: int
    size: int
    sha256: str


class Lake:
    """One warehouse of the fixture project: a DuckDB file and a lake, for one model."""

    def __init__(self, dsn: str, folder: Path, model: str = "pages_by_year") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.model = model
        self.warehouse = Warehouse(dsn, folder / "chrono.duckdb", folder / "lake")
        self.depth = 2 if model == "pages_by_month" else 1

    @property
    def location(self) -> Path:
        return self.warehouse.lake_root / self.model

    @property
    def staging(self) -> Path:
        return self.warehouse.lake_root / "_staging" / self.model

    @property
    def read_expr(self) -> str:
        pattern = f"{self.location}/{'*/' * self.depth}data_0.parquet"
        return (
            f"read_parquet('{pattern}', hive_partitioning = true, "
            f"hive_types = {HIVE_TYPES[self.model]}, union_by_name = true)"
        )

    def dbt(
        self,
        *args: str,
        dbt_vars: dict[str, Any] | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cli = [*args, "--target-path", str(self.folder / "target")]
        if dbt_vars:
            cli += ["--vars", json.dumps(dbt_vars)]
        return self.warehouse.dbt(*cli, check=check, project_dir=FIXTURE, extra_env=env)

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.dbt("run", "--select", self.model, *args, **kwargs)

    def query(self, statement: str) -> list[Row]:
        with duckdb.connect() as conn:
            return conn.execute(statement.format(lake=self.read_expr)).fetchall()

    def pages(self) -> dict[int, Row]:
        rows = self.query(
            "select page_id, domain_id, wayback_timestamp, page_status, retry_count, "
            "archive_year, updated_at from {lake}"
        )
        return {row[0]: row for row in rows}

    def key_counts(self) -> tuple[int, int]:
        count, distinct = self.query("select count(*), count(distinct page_id) from {lake}")[0]
        return int(count), int(distinct)

    def files(self) -> dict[str, FileState]:
        """Every file under the location, by path relative to it, with mtime, size and hash."""
        states = {}
        for path in sorted(self.location.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                states[str(path.relative_to(self.location))] = FileState(
                    stat.st_mtime_ns, stat.st_size, digest
                )
        return states

    def partitions(self) -> set[str]:
        return {relpath.rsplit("/", 1)[0] for relpath in self.files()}

    def staging_entries(self) -> list[str]:
        if not self.staging.is_dir():
            return []
        locks = {".lock", "swap.lock"}
        return sorted(p.name for p in self.staging.iterdir() if p.name not in locks)

    def copy_to(self, folder: Path) -> Lake:
        """A new warehouse over a copy of this lake (files keep their mtimes)."""
        other = Lake(self.warehouse.dsn, folder, self.model)
        other.reset_from(self)
        return other

    def reset_from(self, other: Lake) -> None:
        """Replace this lake by a copy of `other`'s (files keep their mtimes)."""
        shutil.rmtree(self.warehouse.lake_root, ignore_errors=True)
        shutil.copytree(other.warehouse.lake_root, self.warehouse.lake_root)


def changed_partitions(before: dict[str, FileState], after: dict[str, FileState]) -> set[str]:
    return {
        relpath.rsplit("/", 1)[0]
        for relpath in set(before) | set(after)
        if before.get(relpath) != after.get(relpath)
    }


def year_dir(year: int | None) -> str:
    return f"archive_year={NULL_PARTITION if year is None else year}"


# -- a lake built once over a source no test changes -------------------------------------------


@pytest.fixture(scope="module")
def built(make_source_db: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """pages_by_year built from scratch; the year 2016 holds more than 2048 rows, so its file
    has several row groups."""
    dsn = make_source_db(pages=8_000, seed=7)
    sql(
        dsn,
        "update scrape_pages set unix_timestamp = '2016' || substr(unix_timestamp, 5) "
        "where id % 2 = 0 and unix_timestamp ~ '^[0-9]{14}$' and substr(unix_timestamp, 1, 4) "
        "between '2005' and '2030'",
    )
    lake = Lake(dsn, tmp_path_factory.mktemp("built"))
    lake.run()
    return lake


def test_full_build_equals_the_source_one_sorted_file_per_partition(built: Lake) -> None:
    expected = source_pages(built.warehouse.dsn)
    assert built.pages() == expected
    assert built.key_counts() == (len(expected), len(expected))

    years = {row[5] for row in expected.values()}
    assert None in years and 2016 in years and len(years) > 15
    # exactly one file per partition folder, named data_0.parquet, nothing else
    assert sorted(built.files()) == sorted(f"{year_dir(y)}/data_0.parquet" for y in years)
    assert built.staging_entries() == []

    with duckdb.connect() as conn:
        for relpath in built.files():
            path = built.location / relpath
            in_file_order = conn.execute(
                f"select domain_id, page_id from read_parquet('{path}')"
            ).fetchall()
            assert in_file_order == sorted(in_file_order), relpath
        groups = conn.execute(
            f"select file_name, row_group_id, row_group_num_rows, compression "
            f"from parquet_metadata('{built.location}/*/data_0.parquet')"
        ).fetchall()
    assert {g[3] for g in groups} == {"ZSTD"}
    assert max(g[2] for g in groups) <= 2048
    big = [g for g in groups if g[0].endswith("archive_year=2016/data_0.parquet")]
    assert len({g[1] for g in big}) >= 2

    with built.warehouse.connect(attach_source=False) as conn:
        assert conn.execute("select count(*) from main.pages_by_year").fetchone() == (
            len(expected),
        )
        definition = conn.execute(
            "select sql from duckdb_views() where view_name = 'pages_by_year'"
        ).fetchone()
    assert definition is not None
    assert f"{built.location}/*/data_0.parquet" in definition[0]
    assert "hive_types" in definition[0] and "union_by_name" in definition[0]


def test_a_rerun_without_source_change_touches_no_file(built: Lake) -> None:
    before = built.files()
    result = built.run()
    summary = run_summary(result, "pages_by_year")
    assert "incremental," in summary
    # the lookback window re-reads some rows, all identical to the stored ones
    delta_rows = int(summary.split(", ")[1].split()[0])
    assert delta_rows > 0, summary
    assert " 0 changed, 0 partitions written" in summary, summary
    assert built.files() == before
    assert built.pages() == source_pages(built.warehouse.dsn)


def test_a_fresh_duckdb_file_resolves_ref_after_on_run_start(built: Lake, tmp_path: Path) -> None:
    fresh = Warehouse(built.warehouse.dsn, tmp_path / "fresh.duckdb", built.warehouse.lake_root)
    result = fresh.dbt(
        "run",
        "--select",
        "pages_per_year",
        "--target-path",
        str(tmp_path / "target"),
        project_dir=FIXTURE,
    )
    assert "registered 1 incremental_parquet views: pages_by_year" in result.stdout
    expected: dict[int | None, int] = {}
    for row in source_pages(built.warehouse.dsn).values():
        expected[row[5]] = expected.get(row[5], 0) + 1
    with fresh.connect(attach_source=False) as conn:
        counts = dict(
            conn.execute("select archive_year, page_count from main.pages_per_year").fetchall()
        )
    assert counts == expected


def test_dbt_run_empty_leaves_the_lake_alone(built: Lake) -> None:
    before = built.files()
    result = built.run("--empty")
    assert "incremental_parquet pages_by_year: --empty, the lake is left as it is" in result.stdout
    assert built.files() == before
    with built.warehouse.connect(attach_source=False) as conn:
        count = conn.execute("select count(*) from main.pages_by_year").fetchone()
    assert count == (len(source_pages(built.warehouse.dsn)),)


# -- incremental runs --------------------------------------------------------------------------


def test_incremental_run_upserts_moves_honours_the_lookback_and_rewrites_only_touched_files(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=21)
    lake = Lake(dsn, tmp_path)
    lake.run()
    original = source_pages(dsn)
    before = lake.files()
    watermark = source_max_updated_at(dsn)
    later = watermark + timedelta(minutes=1)

    updated = ids_in_year(original, 2010, 2)
    touch(dsn, updated, "status = 'failed', retry_count = retry_count + 1", later)
    moved = ids_in_year(original, 2012, 2) + ids_in_year(original, None, 1)
    touch(dsn, moved, "unix_timestamp = '20140704120000'", later)
    to_malformed = ids_in_year(original, 2018, 1)
    touch(dsn, to_malformed, "unix_timestamp = '2018-07-04T12'", later)
    insert_page(dsn, 900_001, "19990101000000", later)  # a new partition
    insert_page(dsn, 900_002, "20100505050505", later)  # an existing partition
    # committed late: older than the lake's watermark but inside the 1 hour lookback
    late = ids_in_year(original, 2020, 1)
    touch(dsn, late, "status = 'retry'", watermark - timedelta(minutes=30))
    # committed too late for the default lookback (3 hours): picked up only with a wider one
    too_late = ids_in_year(original, 2021, 1)
    touch(dsn, too_late, "status = 'skipped'", watermark - timedelta(hours=3))

    summary = run_summary(lake.run(), "pages_by_year")
    assert "incremental, " in summary and " 9 changed," in summary, summary

    expected = source_pages(dsn)
    assert expected[moved[0]][5] == 2014 and expected[to_malformed[0]][5] is None
    assert lake.pages() == {**expected, too_late[0]: original[too_late[0]]}
    assert lake.key_counts() == (len(expected), len(expected))
    # a moved row left no copy in its old partition
    for page_id, old_year in ((moved[0], 2012), (moved[2], None), (to_malformed[0], 2018)):
        path = lake.location / year_dir(old_year) / "data_0.parquet"
        assert lake.query(f"select count(*) from '{path}' where page_id = {page_id}") == [(0,)]
    # only the partitions that gained or lost rows were rewritten
    assert changed_partitions(before, lake.files()) == {
        year_dir(y) for y in (2010, 2012, None, 2014, 2018, 1999, 2020)
    }

    # --vars lookback_hours widens the window: the too-late row arrives; a delta in one
    # partition out of many rewrites only that partition's file
    before = lake.files()
    summary = run_summary(lake.run(dbt_vars={"lookback_hours": 4}), "pages_by_year")
    assert " 1 changed, 1 partitions written" in summary, summary
    assert lake.pages() == expected
    after = lake.files()
    assert changed_partitions(before, after) == {year_dir(2021)}
    assert sorted(after) == sorted(before) and len(after) > 15


def test_delete_missing_from_deletes_stored_rows_the_source_lost(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=25)
    lake = Lake(dsn, tmp_path)
    deletes = {"pages_delete_missing": True}
    lake.dbt("run", "--select", "source_page_ids", "pages_by_year", dbt_vars=deletes)
    original = source_pages(dsn)
    smallest_year = min(
        (year for year in {row[5] for row in original.values()} if year is not None),
        key=lambda year: (sum(1 for row in original.values() if row[5] == year), year),
    )
    emptied = sorted(i for i, row in original.items() if row[5] == smallest_year)
    thinned = ids_in_year(original, 2011, 3)
    updated = ids_in_year(original, 2013, 1)
    sql(dsn, "delete from scrape_pages where id = any(%s)", (emptied + thinned,))
    touch(dsn, updated, "status = 'failed'", source_max_updated_at(dsn) + timedelta(minutes=1))
    before = lake.files()

    # without the option, an incremental run keeps the rows the source lost
    kept = run_summary(lake.run(), "pages_by_year")
    assert " 1 changed," in kept and " 0 stored rows deleted" in kept, kept
    assert set(lake.pages()) == set(source_pages(dsn)) | set(emptied) | set(thinned)

    summary = run_summary(lake.run(dbt_vars=deletes), "pages_by_year")
    deleted = len(emptied) + len(thinned)
    assert " 0 changed," in summary and f" {deleted} stored rows deleted" in summary, summary
    assert lake.pages() == source_pages(dsn)
    # the thinned partition was rewritten, the emptied one removed, no other file touched
    assert year_dir(smallest_year) not in lake.partitions()
    assert changed_partitions(before, lake.files()) == {
        year_dir(smallest_year),
        year_dir(2011),
        year_dir(2013),
    }
    rerun = run_summary(lake.run(dbt_vars=deletes), "pages_by_year")
    assert " 0 changed, 0 partitions written" in rerun and " 0 stored rows deleted" in rerun


def test_complete_within_replaces_the_stored_rows_of_each_value_the_delta_holds(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=27)
    lake = Lake(dsn, tmp_path)
    lake.run()
    original = source_pages(dsn)
    thinned = ids_in_year(original, 2011, 3)
    emptied_year = 2015
    emptied = sorted(i for i, row in original.items() if row[5] == emptied_year)
    sql(dsn, "delete from scrape_pages where id = any(%s)", (thinned + emptied,))

    # a lookback wide enough to re-read every page: the delta holds every row of each year it
    # holds, so the stored rows of those years it lacks are deleted; a year the delta does not
    # hold at all (every page of it deleted) is not touched
    complete = {"pages_complete_within": ["archive_year"], "lookback_hours": 1_000_000}
    summary = run_summary(lake.run(dbt_vars=complete), "pages_by_year")
    assert f" {len(thinned)} stored rows deleted" in summary, summary
    assert lake.pages() == {**source_pages(dsn), **{i: original[i] for i in emptied}}

    # values_from names where the values live: a stored year that model no longer holds at
    # all is deleted too, though the delta holds none of its rows
    with_values = {
        "pages_complete_within": {
            "columns": ["archive_year"],
            "values_from": {"model": "source_page_ids", "columns": ["archive_year"]},
        },
        "lookback_hours": 1_000_000,
    }
    before = lake.files()
    summary = run_summary(
        lake.dbt("run", "--select", "source_page_ids", "pages_by_year", dbt_vars=with_values),
        "pages_by_year",
    )
    assert " 0 changed," in summary and f" {len(emptied)} stored rows deleted" in summary, summary
    assert lake.pages() == source_pages(dsn)
    assert changed_partitions(before, lake.files()) == {year_dir(emptied_year)}
    assert year_dir(emptied_year) not in lake.partitions()


def test_duplicate_keys_in_one_delta_resolve_to_the_newest_then_the_smallest_row(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=23)
    lake = Lake(dsn, tmp_path)
    dup = {"pages_duplicate_keys": True}

    def expected() -> dict[int, Row]:
        # the 'stale' copy (every 5th) is one minute older and loses; the 'a_tie' copy (every
        # 7th) has the same updated_at and wins the tie: 'a_tie' sorts before every status
        rows = source_pages(dsn)
        return {
            page_id: (*row[:3], "a_tie", *row[4:]) if page_id % 7 == 0 else row
            for page_id, row in rows.items()
        }

    lake.run(dbt_vars=dup)
    assert lake.pages() == expected()
    assert lake.key_counts() == (len(expected()), len(expected()))

    original = source_pages(dsn)
    later = source_max_updated_at(dsn) + timedelta(minutes=1)
    touch(dsn, [35, 70, 10, 14], "status = 'failed', unix_timestamp = '20090909090909'", later)
    summary = run_summary(lake.run(dbt_vars=dup), "pages_by_year")
    assert "incremental, " in summary
    assert lake.pages() == expected()
    assert lake.key_counts() == (len(original), len(original))
    assert [lake.pages()[i][3] for i in (35, 70, 10, 14)] == ["a_tie", "a_tie", "failed", "a_tie"]


def test_two_partition_levels(make_source_db: Callable[..., str], tmp_path: Path) -> None:
    dsn = make_source_db(pages=PAGES, seed=24)
    lake = Lake(dsn, tmp_path, model="pages_by_month")

    def expected() -> dict[int, Row]:
        return {
            page_id: (archive_year(raw), archive_month(raw))
            for page_id, raw in sql(dsn, "select id, unix_timestamp from scrape_pages")
        }

    lake.run()
    stored = lake.query("select page_id, archive_year, archive_month from {lake}")
    assert {r[0]: (r[1], r[2]) for r in stored} == expected()
    assert all(relpath.count("/") == 2 for relpath in lake.files())
    before = lake.files()

    moved = [i for i, (y, m) in sorted(expected().items()) if (y, m) == (2015, 3)][:2]
    assert len(moved) == 2
    touch(dsn, moved, "unix_timestamp = '20150815000000'", source_max_updated_at(dsn))
    lake.run()
    stored = lake.query("select page_id, archive_year, archive_month from {lake}")
    assert len(stored) == len({r[0] for r in stored})
    assert {r[0]: (r[1], r[2]) for r in stored} == expected()
    assert changed_partitions(before, lake.files()) == {
        "archive_year=2015/archive_month=3",
        "archive_year=2015/archive_month=8",
    }


def test_a_partition_expression_names_folders_the_view_hides_and_rows_move_between(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=25)
    lake = Lake(dsn, tmp_path, model="pages_by_domain_group")

    def expected() -> dict[int, int]:
        return {
            page_id: domain_id % 3
            for page_id, domain_id in sql(dsn, "select id, domain_id from scrape_pages")
        }

    lake.run()
    stored = lake.query("select page_id, domain_group, domain_id % 3 from {lake}")
    assert {r[0]: r[1] for r in stored} == expected()
    assert all(r[1] == r[2] for r in stored)
    assert lake.partitions() == {"domain_group=0", "domain_group=1", "domain_group=2"}
    with lake.warehouse.connect(attach_source=False) as conn:
        view_columns = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns "
                "where table_name = 'pages_by_domain_group' order by ordinal_position"
            ).fetchall()
        ]
    assert view_columns == ["page_id", "domain_id", "updated_at"]

    page_id, domain_id = sql(
        dsn, "select id, domain_id from scrape_pages where domain_id % 3 = 0 limit 1"
    )[0]
    new_domain = sql(dsn, "select min(id) from domains where id % 3 = 1")[0][0]
    before = lake.files()
    touch(dsn, [page_id], f"domain_id = {new_domain}", source_max_updated_at(dsn))
    lake.run()
    stored = lake.query("select page_id, domain_group from {lake}")
    assert len(stored) == len({r[0] for r in stored})
    assert {r[0]: r[1] for r in stored} == expected()
    assert expected()[page_id] == 1 != domain_id % 3
    assert changed_partitions(before, lake.files()) == {"domain_group=0", "domain_group=1"}


def test_a_changed_partition_by_fails_incrementally_and_a_full_refresh_replaces_the_layout(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=26)
    lake = Lake(dsn, tmp_path, model="pages_by_domain_group")
    lake.run()
    renamed = {"group_partition_name": "domain_bucket"}
    failed = lake.run(dbt_vars=renamed, check=False)
    assert failed.returncode != 0
    assert "not registered, its lake" in failed.stdout
    assert (
        "laid out otherwise (e.g. domain_group=0) than the model's partition_by (domain_bucket)"
        in (" ".join(failed.stdout.split()))
    )
    assert lake.partitions() == {"domain_group=0", "domain_group=1", "domain_group=2"}

    lake.run("--full-refresh", dbt_vars=renamed)
    assert lake.partitions() == {"domain_bucket=0", "domain_bucket=1", "domain_bucket=2"}
    with duckdb.connect() as conn:
        count = conn.execute(
            "select count(*), count(distinct page_id) "
            f"from read_parquet('{lake.location}/*/data_0.parquet')"
        ).fetchone()
    assert count == (PAGES, PAGES)


def test_an_empty_model_keeps_one_empty_file_and_a_working_view(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=25)
    lake = Lake(dsn, tmp_path)
    lake.run(dbt_vars={"pages_filter": "false"})
    assert list(lake.files()) == [f"{year_dir(None)}/data_0.parquet"]
    assert lake.key_counts() == (0, 0)
    with lake.warehouse.connect(attach_source=False) as conn:
        assert conn.execute("select count(*) from main.pages_by_year").fetchone() == (0,)

    # rows arrive: the empty file gives way to real partitions
    lake.run()
    assert lake.pages() == source_pages(dsn)
    assert len(lake.partitions()) > 15

    # a full refresh to an empty model again
    lake.run("--full-refresh", dbt_vars={"pages_filter": "false"})
    assert list(lake.files()) == [f"{year_dir(None)}/data_0.parquet"]
    assert lake.key_counts() == (0, 0)
    assert lake.staging_entries() == []


def test_on_schema_change_fail_and_append_new_columns(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=26)
    lake = Lake(dsn, tmp_path)
    lake.run()
    before = lake.files()
    original = source_pages(dsn)

    failed = lake.run(dbt_vars={"pages_extra_column": True}, check=False)
    assert failed.returncode != 0
    assert "New columns: [status_code INTEGER]; removed columns: []" in failed.stdout
    assert lake.files() == before

    page_ids = ids_in_year(original, 2013, 2)
    touch(dsn, page_ids, "status = 'failed'", source_max_updated_at(dsn) + timedelta(minutes=1))
    added = {"pages_extra_column": True, "pages_on_schema_change": "append_new_columns"}
    lake.run(dbt_vars=added)
    status_codes = dict(sql(dsn, "select id, status_code from scrape_pages"))
    stored = dict(lake.query("select page_id, status_code from {lake}"))
    assert len(stored) == len(original)
    assert {i: stored[i] for i in page_ids} == {i: status_codes[i] for i in page_ids}
    assert all(code is not None for code in (status_codes[i] for i in page_ids))
    # untouched partitions keep their files, without the new column; their rows read NULL
    after = lake.files()
    untouched = [relpath for relpath in before if after[relpath] == before[relpath]]
    assert len(untouched) >= 10
    for relpath in untouched:
        schema = f"parquet_schema('{lake.location / relpath}')"
        assert lake.query(f"select count(*) from {schema} where name = 'status_code'") == [(0,)]
    untouched_years = {relpath.split("/")[0] for relpath in untouched}
    untouched_ids = [i for i, row in original.items() if year_dir(row[5]) in untouched_years]
    assert {stored[i] for i in untouched_ids} == {None}
    with lake.warehouse.connect(attach_source=False) as conn:
        columns = [c[0] for c in conn.execute("describe main.pages_by_year").fetchall()]
    assert "status_code" in columns

    removed = lake.run(check=False)
    assert removed.returncode != 0
    assert "New columns: []; removed columns: [status_code INTEGER]" in removed.stdout


# -- crashes -----------------------------------------------------------------------------------


@dataclass
class CrashOutcome:
    returncode: int
    key_counts_after_crash: tuple[int, int]
    journal_after_crash: bool
    files_after_crash: dict[str, FileState]
    rerun_pages: dict[int, Row]
    rerun_partitions: set[str]
    rerun_key_counts: tuple[int, int]
    rerun_staging: list[str]


@dataclass
class CrashScenario:
    base_files: dict[str, FileState]
    reference_pages: dict[int, Row]
    reference_partitions: set[str]
    outcomes: dict[tuple[str, str], CrashOutcome]


def _crash_then_rerun(lake: Lake, mode: str, point: str) -> CrashOutcome:
    args = ("--full-refresh",) if mode == "full_refresh" else ()
    crashed = lake.run(*args, check=False, env={"CHRONO_LAKE_CRASH_AT": point})
    outcome = CrashOutcome(
        returncode=crashed.returncode,
        key_counts_after_crash=lake.key_counts(),
        journal_after_crash=(lake.staging / "journal.json").exists(),
        files_after_crash=lake.files(),
        rerun_pages={},
        rerun_partitions=set(),
        rerun_key_counts=(0, 0),
        rerun_staging=[],
    )
    lake.run()
    outcome.rerun_pages = lake.pages()
    outcome.rerun_partitions = lake.partitions()
    outcome.rerun_key_counts = lake.key_counts()
    outcome.rerun_staging = lake.staging_entries()
    return outcome


@pytest.fixture(scope="module")
def crash_scenario(
    make_source_db: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> CrashScenario:
    """A lake, a source change that moves rows across partitions (one partition empties, one is
    new), an uninterrupted run as the reference, and for each crash point a copy of the lake
    killed there and run again (in parallel, each in its own folder)."""
    dsn = make_source_db(pages=PAGES, seed=31)
    folder = tmp_path_factory.mktemp("crash")
    sql(dsn, "update scrape_pages set unix_timestamp = '19800101000000' where id = 17")
    base = Lake(dsn, folder / "base")
    base.run()
    original = source_pages(dsn)
    later = source_max_updated_at(dsn) + timedelta(minutes=1)
    for year, target in ((2006, "2019"), (2019, "2006"), (2011, "2023"), (None, "2011")):
        touch(dsn, ids_in_year(original, year, 3), f"unix_timestamp = '{target}0606060606'", later)
    touch(dsn, [17], "unix_timestamp = '20070707070707'", later)  # 1980 empties
    touch(dsn, ids_in_year(original, 2015, 2), "status = 'failed'", later)
    insert_page(dsn, 900_100, "19770101000000", later)  # a new partition

    reference = base.copy_to(folder / "reference")
    reference.run()
    cases = [("incremental", p) for p in INCREMENTAL_CRASH_POINTS] + [
        ("full_refresh", p) for p in FULL_REFRESH_CRASH_POINTS
    ]
    workers = 3

    def worker(number: int) -> dict[tuple[str, str], CrashOutcome]:
        # one folder (and dbt target path) per worker, so that dbt parses partially
        lake = Lake(dsn, folder / f"worker-{number}")
        done = {}
        for case in cases[number::workers]:
            lake.reset_from(base)
            done[case] = _crash_then_rerun(lake, *case)
        return done

    outcomes: dict[tuple[str, str], CrashOutcome] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(worker, range(workers)):
            outcomes.update(done)
    return CrashScenario(
        base_files=base.files(),
        reference_pages=reference.pages(),
        reference_partitions=reference.partitions(),
        outcomes=outcomes,
    )


def test_the_crash_scenario_reference_moves_rows_and_changes_partitions(
    crash_scenario: CrashScenario,
) -> None:
    base_partitions = {relpath.rsplit("/", 1)[0] for relpath in crash_scenario.base_files}
    assert year_dir(1980) in base_partitions
    assert year_dir(1980) not in crash_scenario.reference_partitions
    assert year_dir(1977) in crash_scenario.reference_partitions
    assert crash_scenario.reference_pages[17][5] == 2007


@pytest.mark.parametrize(
    ("mode", "point"),
    [("incremental", p) for p in INCREMENTAL_CRASH_POINTS]
    + [("full_refresh", p) for p in FULL_REFRESH_CRASH_POINTS],
)
def test_kill_9_leaves_a_readable_lake_without_duplicates_and_the_rerun_converges(
    crash_scenario: CrashScenario, mode: str, point: str
) -> None:
    outcome = crash_scenario.outcomes[(mode, point)]
    assert outcome.returncode == -9  # SIGKILL at the point, not an error
    count, distinct = outcome.key_counts_after_crash
    assert count == distinct
    assert outcome.journal_after_crash == (point not in ("before_staging", "after_staging"))
    if point in ("before_staging", "after_staging", "after_journal"):
        assert outcome.files_after_crash == crash_scenario.base_files
    else:
        assert outcome.files_after_crash != crash_scenario.base_files

    assert outcome.rerun_pages == crash_scenario.reference_pages
    assert outcome.rerun_partitions == crash_scenario.reference_partitions
    assert outcome.rerun_key_counts == (len(outcome.rerun_pages), len(outcome.rerun_pages))
    assert outcome.rerun_staging == []


# -- concurrent readers ---------------------------------------------------------------------------

READER = """
import contextlib, json, sys, time
from pathlib import Path
import duckdb
from chrono_analytics.lake import read_lock
mode, location, read_expr, stop_file, out_file = sys.argv[1:6]
conn = duckdb.connect()
query = ("select count(*), count(distinct page_id), count(distinct coalesce(archive_year, -1)), "
         "sum(retry_count) from " + read_expr)
with open(out_file, "w") as out:
    while not Path(stop_file).exists():
        guard = read_lock(location) if mode == "locked" else contextlib.nullcontext()
        try:
            with guard:
                row = conn.execute(query).fetchone()
            out.write(json.dumps(list(row)) + "\\n")
        except Exception as exc:
            out.write(json.dumps(str(exc)) + "\\n")
        out.flush()
        time.sleep(0.003)
"""


def test_concurrent_readers_never_see_a_key_twice_or_a_partition_missing(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """Two reader processes query the files in a loop while a run moves rows between every pair
    of neighbouring years and changes rows in place everywhere (each rename slowed down by the
    test hook). The one that holds read_lock per query sees the whole lake before or after the
    swap, never an error; the one that does not never sees a key twice or a partition missing
    (it may fail on a file renamed during its query: DuckDB reopens files, see lake.py)."""
    dsn = make_source_db(pages=PAGES, seed=41)
    lake = Lake(dsn, tmp_path)
    lake.run()
    original = source_pages(dsn)
    partitions = len(lake.partitions())
    later = source_max_updated_at(dsn) + timedelta(minutes=1)
    years = sorted(y for y in {row[5] for row in original.values()} if y is not None)
    for year, target in zip(years, years[1:] + years[:1], strict=True):
        touch(dsn, ids_in_year(original, year, 2), f"unix_timestamp = '{target}0303030303'", later)
        touch(dsn, ids_in_year(original, year, 2, skip=2), "retry_count = retry_count + 7", later)
    old_checksum = sum(row[4] for row in original.values())
    new_checksum = old_checksum + 7 * 2 * len(years)

    stop_file = tmp_path / "stop"
    readers = {
        mode: subprocess.Popen(
            [
                sys.executable,
                "-c",
                READER,
                mode,
                str(lake.location),
                lake.read_expr,
                str(stop_file),
                str(tmp_path / f"{mode}.jsonl"),
            ]
        )
        for mode in ("locked", "plain")
    }
    results: list[subprocess.CompletedProcess[str]] = []
    try:
        time.sleep(1.0)
        runner = threading.Thread(
            target=lambda: results.append(
                lake.run(env={"CHRONO_LAKE_SWAP_DELAY_MS": "60"}, check=False)
            )
        )
        runner.start()
        runner.join(timeout=120)
        time.sleep(0.5)
    finally:
        stop_file.touch()
        for reader in readers.values():
            reader.wait(timeout=30)
    assert results and results[0].returncode == 0, results[0].stdout[-3000:] if results else ""
    assert lake.pages() == source_pages(dsn)

    def reads(mode: str) -> tuple[list[list[int]], list[str]]:
        lines = [json.loads(line) for line in (tmp_path / f"{mode}.jsonl").read_text().splitlines()]
        return [r for r in lines if isinstance(r, list)], [r for r in lines if isinstance(r, str)]

    locked, locked_errors = reads("locked")
    assert locked_errors == []
    assert len(locked) > 50
    for count, distinct, seen_partitions, checksum in locked:
        assert (count, distinct, seen_partitions) == (len(original), len(original), partitions)
        assert checksum in (old_checksum, new_checksum)
    assert locked[0][3] == old_checksum and locked[-1][3] == new_checksum

    plain, _plain_errors = reads("plain")
    assert len(plain) > 50
    for count, distinct, seen_partitions, _ in plain:
        assert count == distinct
        assert seen_partitions == partitions
        assert len(original) - 2 * len(years) <= count <= len(original)
    checksums = [r[3] for r in plain]
    assert checksums[0] == old_checksum and checksums[-1] == new_checksum
    # it watched the swap: states between the old and the new one
    assert len(set(checksums) - {old_checksum, new_checksum}) >= 2


@pytest.fixture(autouse=True)
def _no_crash_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test hooks apply only where a test sets them."""
    monkeypatch.delenv("CHRONO_LAKE_CRASH_AT", raising=False)
    monkeypatch.delenv("CHRONO_LAKE_SWAP_DELAY_MS", raising=False)
    yield
