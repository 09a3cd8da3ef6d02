"""The incremental_parquet materialization (macros/materializations/) against a real PostgreSQL
source and real Parquet files, through the fixture project in fixtures/incremental_project.

Expected rows are computed in Python from the source rows (archive year by strptime), not by
the SQL under test. Each test that changes source rows has a database of its own. A run's
figures come from the snapshot it committed (``Snapshot.run``), never from dbt's log.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from chrono_analytics.lake import lock
from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.snapshot import NULL_PARTITION, Snapshot
from chrono_analytics.lake.store import open_store
from chrono_analytics.lake.writer import revert
from warehouse_helpers import Warehouse, admin_dsn, reference_wayback, target_folder

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "incremental_project"
PAGES = 2_000

Row = tuple[Any, ...]


# -- helpers -----------------------------------------------------------------------------------


def archive_year(raw: str | None) -> int | None:
    parsed = reference_wayback(raw)
    return None if parsed is None else parsed.year


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


def now_utc() -> datetime:
    return datetime.now(UTC)


def touch(dsn: str, ids: list[int], assignments: str, updated_at: Any = "now") -> None:
    """UPDATE the given pages as the application would (setting updated_at)."""
    stamp = now_utc() if updated_at == "now" else updated_at
    affected = sql(
        dsn,
        f"update scrape_pages set {assignments}, updated_at = %s where id = any(%s) returning id",
        (stamp, ids),
    )
    assert sorted(r[0] for r in affected) == sorted(ids)


def insert_page(dsn: str, page_id: int, wayback: str, domain_id: int = 1) -> None:
    sql(
        dsn,
        "insert into scrape_pages (id, domain_id, original_url, unix_timestamp, status, "
        "created_at, updated_at) values (%s, %s, %s, %s, 'pending', now(), now())",
        (page_id, domain_id, f"https://example.org/new/{page_id}", wayback),
    )


def ids_in_year(pages: dict[int, Row], year: int | None, count: int, skip: int = 0) -> list[int]:
    found = sorted(page_id for page_id, row in pages.items() if row[5] == year)
    assert len(found) >= skip + count, (year, len(found))
    return found[skip : skip + count]


@dataclass(frozen=True)
class FileState:
    size: int
    sha256: str


class FixtureLake:
    """One warehouse of the fixture project: a DuckDB file and a lake, for one model."""

    def __init__(self, dsn: str, folder: Path, model: str = "pages_by_year") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.model = model
        self.warehouse = Warehouse(dsn, folder / "chrono.duckdb", folder / "lake")
        self.reader = Lake(self.warehouse.lake_root)

    @property
    def dsn(self) -> str:
        return self.warehouse.dsn

    @property
    def location(self) -> Path:
        return self.warehouse.lake_root / self.model

    def dbt(
        self,
        *args: str,
        dbt_vars: dict[str, Any] | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cli = list(args)
        if dbt_vars:
            cli += ["--vars", json.dumps(dbt_vars)]
        return self.warehouse.dbt(*cli, check=check, project_dir=FIXTURE, extra_env=env)

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.dbt("run", "--select", self.model, *args, **kwargs)

    def snapshot(self) -> Snapshot:
        snapshot = self.reader.snapshot(self.model)
        assert snapshot is not None
        return snapshot

    def stats(self) -> dict[str, Any]:
        return self.snapshot().run

    def view_definition(self) -> str:
        """The SQL of dbt's view of the model in the DuckDB file."""
        with self.warehouse.connect(attach_source=False) as conn:
            row = conn.execute(
                "select sql from duckdb_views() where view_name = ?", [self.model]
            ).fetchone()
        assert row is not None
        return str(row[0])

    def rows(self, query: str = "select * from {model}") -> list[Row]:
        with self.reader.connect() as conn:
            return conn.execute(query.format(model=self.model)).fetchall()

    def pages(self) -> dict[int, Row]:
        rows = self.rows(
            "select page_id, domain_id, wayback_timestamp, page_status, retry_count, "
            "archive_year, updated_at from {model}"
        )
        return {row[0]: tuple(_utc(v) for v in row) for row in rows}

    def key_counts(self) -> tuple[int, int]:
        count, distinct = self.rows("select count(*), count(distinct page_id) from {model}")[0]
        return int(count), int(distinct)

    def data_files(self) -> dict[str, FileState]:
        """Every data file under the location (live or not), by relative path."""
        states = {}
        for path in sorted(self.location.rglob("*.parquet")):
            if "_chrono" not in path.parts:
                states[str(path.relative_to(self.location))] = FileState(
                    path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()
                )
        return states

    def live_files(self) -> dict[str, str]:
        """The current snapshot's files by partition folder (one file per partition: below
        max_file_rows)."""
        return {f.path.rsplit("/", 1)[0]: f.path for f in self.snapshot().files}


def _utc(value: Any) -> Any:
    """DuckDB returns infinite timestamps as naive datetime.max/min, psycopg2 with UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def year_dir(year: int | None) -> str:
    return f"archive_year={NULL_PARTITION if year is None else year}"


def retired_partitions(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Partitions whose live file changed (rewritten, added or removed)."""
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


# -- a lake built once over a source no test changes -------------------------------------------


@pytest.fixture(scope="module")
def built(
    make_source_db: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
) -> FixtureLake:
    """pages_by_year built from scratch; the year 2016 holds more than 2048 rows, so its file
    has several row groups."""
    dsn = make_source_db(pages=8_000, seed=7)
    sql(
        dsn,
        "update scrape_pages set unix_timestamp = '2016' || substr(unix_timestamp, 5) "
        "where id % 2 = 0 and unix_timestamp ~ '^[0-9]{14}$' and substr(unix_timestamp, 1, 4) "
        "between '2005' and '2026'",
    )
    lake = FixtureLake(dsn, tmp_path_factory.mktemp("built"))
    lake.run()
    return lake


def test_full_build_equals_the_source_one_sorted_file_per_partition(built: FixtureLake) -> None:
    expected = source_pages(built.dsn)
    assert built.pages() == expected
    assert built.key_counts() == (len(expected), len(expected))
    snapshot = built.snapshot()
    assert snapshot.version == 1 and snapshot.run["mode"] == "full refresh"
    assert snapshot.rows == len(expected)

    years = {row[5] for row in expected.values()}
    assert None in years and 2016 in years and len(years) > 15
    # one live file per partition folder; no other data file in the lake
    assert sorted(built.live_files()) == sorted(year_dir(y) for y in years)
    assert sorted(built.data_files()) == sorted(built.live_files().values())

    with duckdb.connect() as conn:
        for path in built.reader.files(built.model):
            in_file_order = conn.execute(
                f"select domain_id, page_id from read_parquet('{path}')"
            ).fetchall()
            assert in_file_order == sorted(in_file_order), path
            # the partition column is stored inside the file too, with the model's type
            types = {
                r[0]: r[1]
                for r in conn.execute(
                    f"describe select * from read_parquet('{path}', hive_partitioning = false)"
                ).fetchall()
            }
            assert types["archive_year"] == "INTEGER"
        groups = conn.execute(
            "select file_name, row_group_id, row_group_num_rows, compression from "
            f"parquet_metadata({built.reader.files(built.model)!r})"
        ).fetchall()
    assert {g[3] for g in groups} == {"ZSTD"}
    assert max(g[2] for g in groups) <= 2048
    big = [g for g in groups if "/archive_year=2016/" in g[0]]
    assert len({g[1] for g in big}) >= 2

    # dbt's view reads the same snapshot, by absolute paths (works from any folder)
    with built.warehouse.connect(attach_source=False) as conn:
        assert conn.execute("select count(*) from main.pages_by_year").fetchone() == (
            len(expected),
        )
    definition = built.view_definition()
    assert str(built.location) in definition
    # every file was written with one schema, and the commit recorded it: the views read the
    # files by the first one's schema, without unifying them by name at each query
    assert len({f.schema for f in snapshot.files}) == 1 and snapshot.uniform_schema
    assert "union_by_name" not in definition


def test_a_rerun_without_source_change_writes_no_file(built: FixtureLake) -> None:
    before = built.data_files()
    version = built.snapshot().version
    built.run()  # the default lookback (1 h)
    assert built.stats()["files_written"] == 0
    built.run(dbt_vars={"lookback_hours": 24 * 365 * 30})  # a lookback over every page
    stats = built.stats()
    assert built.snapshot().version == version + 2  # the watermark moved on
    assert stats["mode"] == "incremental"
    assert stats["recompute_values"] == len(source_pages(built.dsn))  # every row re-read ...
    assert stats["changed_rows"] == 0 and stats["files_written"] == 0  # ... all identical
    assert built.data_files() == before
    assert built.pages() == source_pages(built.dsn)


def test_a_fresh_duckdb_file_resolves_ref_after_on_run_start(
    built: FixtureLake, tmp_path: Path
) -> None:
    fresh = Warehouse(built.dsn, tmp_path / "fresh.duckdb", built.warehouse.lake_root)
    result = fresh.dbt(
        "run",
        "--select",
        "pages_per_year",
        "--target-path",
        str(tmp_path / "target"),
        project_dir=FIXTURE,
    )
    assert "incremental_parquet views: pages_by_year" in result.stdout
    expected: dict[int | None, int] = {}
    for row in source_pages(built.dsn).values():
        expected[row[5]] = expected.get(row[5], 0) + 1
    with fresh.connect(attach_source=False) as conn:
        counts = dict(
            conn.execute("select archive_year, page_count from main.pages_per_year").fetchall()
        )
    assert counts == expected


def registered_views(output: str) -> list[str]:
    """The incremental_parquet views on-run-start created, as dbt's output names them."""
    for line in output.splitlines():
        if "incremental_parquet views: " in line:
            return line.split("incremental_parquet views: ", 1)[1].strip().split(", ")
    return []


def test_on_run_start_registers_a_view_again_only_when_the_lake_moved_on(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """A view registered over the current snapshot is left as it is (a sync's cycles do not
    recreate the views the previous cycle left current); another lake at the same version
    number or a commit from another DuckDB file make on-run-start create it again, and the
    view reads the lake's current snapshot."""
    dsn = make_source_db(pages=PAGES, seed=43)
    lake = FixtureLake(dsn, tmp_path / "ours")
    lake.run()
    reads_view = ("run", "--select", "pages_per_year")
    assert registered_views(lake.dbt(*reads_view).stdout) == []

    def view_reads(warehouse: Warehouse) -> str:
        """The lake folder the view of pages_by_year reads."""
        with warehouse.connect(attach_source=False) as conn:
            row = conn.execute(
                "select sql from duckdb_views() where view_name = 'pages_by_year'"
            ).fetchone()
        assert row is not None
        return str(warehouse.lake_root) if f"'{warehouse.lake_root}/" in row[0] else row[0]

    # our DuckDB file over another lake (built from another file) at the same version number
    builder = Warehouse(dsn, tmp_path / "builder.duckdb", tmp_path / "elsewhere")
    builder.dbt("run", "--select", "pages_by_year", project_dir=FIXTURE)
    elsewhere = Lake(builder.lake_root).snapshot("pages_by_year")
    assert elsewhere is not None and elsewhere.version == lake.snapshot().version
    ours_elsewhere = Warehouse(dsn, lake.warehouse.duckdb_path, builder.lake_root)
    output = ours_elsewhere.dbt(*reads_view, project_dir=FIXTURE).stdout
    assert registered_views(output) == ["pages_by_year"]
    assert view_reads(ours_elsewhere) == str(builder.lake_root)
    assert registered_views(lake.dbt(*reads_view).stdout) == ["pages_by_year"]
    assert view_reads(lake.warehouse) == str(lake.warehouse.lake_root)

    # another DuckDB file commits to our lake, with no change: the same files under a new
    # version, which the view must record (a downstream model reads the change feed up to it)
    other = Warehouse(dsn, tmp_path / "other.duckdb", lake.warehouse.lake_root)
    before = lake.snapshot()
    other.dbt("run", "--select", "pages_by_year", project_dir=FIXTURE)
    assert lake.snapshot().files == before.files and lake.snapshot().version == before.version + 1
    assert registered_views(lake.dbt(*reads_view).stdout) == ["pages_by_year"]
    with lake.warehouse.connect(attach_source=False) as conn:
        recorded = conn.execute("select version from main.__chrono_snapshot__pages_by_year")
        assert recorded.fetchall() == [(before.version + 1,)]
    assert registered_views(lake.dbt(*reads_view).stdout) == []


def test_dbt_run_empty_leaves_the_lake_alone(built: FixtureLake) -> None:
    before, version = built.data_files(), built.snapshot().version
    result = built.run("--empty")
    assert "incremental_parquet pages_by_year: --empty, the lake is left as it is" in result.stdout
    assert built.data_files() == before and built.snapshot().version == version
    with built.warehouse.connect(attach_source=False) as conn:
        count = conn.execute("select count(*) from main.pages_by_year").fetchone()
    assert count == (len(source_pages(built.dsn)),)


def test_rendering_takes_no_lock_and_changes_no_file(built: FixtureLake, tmp_path: Path) -> None:
    """dbt compile, ls, show and docs generate while another process holds the lake's write
    lock: none waits for it, none changes a file of the lake, and the compiled SQL does not
    depend on the lake's contents."""
    before = {p: p.read_bytes() for p in built.location.rglob("*") if p.is_file()}
    before.pop(built.location / "_chrono" / "write.lock", None)
    store = open_store(built.location)
    lock.acquire(store, "test", "the rendering test", timeout=1)
    try:
        for command in (
            ["compile", "--select", "pages_by_year"],
            ["ls", "--select", "pages_by_year"],
            ["show", "--select", "pages_per_year", "--limit", "3"],
            ["docs", "generate"],
        ):
            built.dbt(*command, env={"CHRONO_LAKE_LOCK_TIMEOUT": "1"})
    finally:
        lock.release(store)
    after = {p: p.read_bytes() for p in built.location.rglob("*") if p.is_file()}
    after.pop(built.location / "_chrono" / "write.lock", None)
    assert after == before
    compiled = (
        target_folder(FIXTURE, ())
        / "compiled"
        / "incremental_fixture"
        / "models"
        / "pages_by_year.sql"
    ).read_text()
    assert "page_id in (" not in compiled and "postgres_query" not in compiled
    assert "2016" not in compiled


# -- incremental runs --------------------------------------------------------------------------


def test_incremental_run_upserts_moves_honours_the_lookback_and_rewrites_only_touched_files(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=21)
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    original = source_pages(dsn)
    before = lake.live_files()

    updated = ids_in_year(original, 2010, 2)
    touch(dsn, updated, "status = 'failed', retry_count = retry_count + 1")
    moved = ids_in_year(original, 2012, 2) + ids_in_year(original, None, 1)
    touch(dsn, moved, "unix_timestamp = '20140704120000'")
    to_malformed = ids_in_year(original, 2018, 1)
    touch(dsn, to_malformed, "unix_timestamp = '2018-07-04T12'")
    insert_page(dsn, 900_001, "19990101000000")  # a new partition
    insert_page(dsn, 900_002, "20100505050505")  # an existing partition
    # committed with an updated_at older than the last run's watermark, inside the 1 hour
    # lookback
    watermark = datetime.fromisoformat(lake.snapshot().watermark or "")
    late = ids_in_year(original, 2020, 1)
    touch(dsn, late, "status = 'retry'", watermark - timedelta(minutes=30))
    # too old for the default lookback: picked up only with a wider one
    too_late = ids_in_year(original, 2021, 1)
    touch(dsn, too_late, "status = 'skipped'", watermark - timedelta(hours=3))

    lake.run()
    assert lake.stats()["changed_rows"] == 9, lake.stats()
    expected = source_pages(dsn)
    assert expected[moved[0]][5] == 2014 and expected[to_malformed[0]][5] is None
    assert lake.pages() == {**expected, too_late[0]: original[too_late[0]]}
    assert lake.key_counts() == (len(expected), len(expected))
    # only the partitions that gained or lost rows got a new file; moved rows left none behind
    after = lake.live_files()
    assert retired_partitions(before, after) == {
        year_dir(y) for y in (2010, 2012, None, 2014, 2018, 1999, 2020)
    }

    # --vars lookback_hours widens the window: the too-late row arrives; only its partition
    before = after
    lake.run(dbt_vars={"lookback_hours": 4})
    assert lake.stats()["changed_rows"] == 1 and lake.stats()["files_written"] == 1
    assert lake.pages() == expected
    assert retired_partitions(before, lake.live_files()) == {year_dir(2021)}


def test_deleted_pages_leave_the_lake_and_emptied_partitions_lose_their_file(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=25)
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    original = source_pages(dsn)
    smallest_year = min(
        (year for year in {row[5] for row in original.values()} if year is not None),
        key=lambda year: (sum(1 for row in original.values() if row[5] == year), year),
    )
    emptied = sorted(i for i, row in original.items() if row[5] == smallest_year)
    thinned = ids_in_year(original, 2011, 3)
    updated = ids_in_year(original, 2013, 1)
    sql(dsn, "delete from scrape_pages where id = any(%s)", (emptied + thinned,))
    touch(dsn, updated, "status = 'failed'")
    before = lake.live_files()

    lake.run()
    stats = lake.stats()
    assert stats["changed_rows"] == 1 and stats["deleted_rows"] == len(emptied) + len(thinned)
    assert lake.pages() == source_pages(dsn)
    after = lake.live_files()
    assert year_dir(smallest_year) not in after
    assert retired_partitions(before, after) == {
        year_dir(smallest_year),
        year_dir(2011),
        year_dir(2013),
    }
    lake.run()
    assert lake.stats()["deleted_rows"] == 0 and lake.stats()["files_written"] == 0


def file_keys(lake: FixtureLake) -> dict[str, set[int]]:
    """The page_ids each live file of the current snapshot holds, by its relative path."""
    snapshot = lake.snapshot()
    with duckdb.connect() as conn:
        return {
            f.path: {
                row[0]
                for row in conn.execute(
                    f"select page_id from read_parquet('{lake.location / f.path}')"
                ).fetchall()
            }
            for f in snapshot.files
        }


def sort_keys_in_file_order(lake: FixtureLake, path: str) -> list[tuple[bool, int, int]]:
    """The sort key of each row of a file of pages_by_year (its order_by: domain_id, NULLs last
    as DuckDB sorts them, then page_id), in the order the file stores its rows."""
    with duckdb.connect() as conn:
        return [
            (domain_id is None, domain_id or 0, page_id)
            for domain_id, page_id in conn.execute(
                f"select domain_id, page_id from read_parquet('{lake.location / path}')"
            ).fetchall()
        ]


def test_a_partition_past_max_file_rows_is_split_and_a_run_rewrites_only_its_files_with_changes(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """max_file_rows bounds the rows of a file, so the rows one write sorts: a partition of
    about 1,000 rows is written as 7 files of 150 rows at most, each a consecutive range of
    the partition's rows in order_by order (so a filter on its first column reads row groups
    of the files whose range holds its values only); an incremental run rewrites the files
    holding a changed, moved or deleted row, puts rows new to a partition in its smallest file
    with room, and keeps every other file byte for byte. The files of a group an incremental
    run splits (a new partition's rows, a touched file past a lowered limit) are in order_by
    order too."""
    dsn = make_source_db(pages=PAGES, seed=33)
    sql(
        dsn,
        "update scrape_pages set unix_timestamp = '2016' || substr(unix_timestamp, 5) "
        "where id % 2 = 0 and unix_timestamp ~ '^[0-9]{14}$'",
    )
    # pages without domain (a broken source): NULLs in the first order_by column sort last,
    # into the last file
    sql(dsn, "alter table scrape_pages alter column domain_id drop not null")
    sql(dsn, "update scrape_pages set domain_id = null where id in (2, 4, 6, 8, 10)")
    cap = 150
    env = {"CHRONO_LAKE_MAX_FILE_ROWS": str(cap)}
    lake = FixtureLake(dsn, tmp_path)
    lake.run(env=env)
    original = source_pages(dsn)
    assert lake.pages() == original
    big = sum(1 for row in original.values() if row[5] == 2016)
    before = file_keys(lake)
    in_2016 = {path: keys for path, keys in before.items() if f"/{year_dir(2016)}/" in f"/{path}"}
    assert len(in_2016) == -(-big // cap) >= 6, (big, len(in_2016))
    assert sorted(k for keys in in_2016.values() for k in keys) == ids_in_year(original, 2016, big)
    assert all(len(keys) <= cap for keys in before.values()), {p: len(k) for p, k in before.items()}
    sizes = sorted(len(keys) for keys in in_2016.values())
    assert sizes[-1] - sizes[0] <= 1, sizes  # as even as can be
    ranges = []
    for path in in_2016:
        in_file_order = sort_keys_in_file_order(lake, path)
        assert in_file_order == sorted(in_file_order), path
        ranges.append((in_file_order[0], in_file_order[-1]))
    # the files hold disjoint ranges of the order: each starts past the previous one's end
    ranges.sort()
    assert all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(ranges)), ranges
    assert ranges[-1][1][0], "the pages without domain are in the last file"

    updated, deleted, moved = (ids_in_year(original, 2016, 2, skip=n) for n in (0, 40, 80))
    touch(dsn, updated, "status = 'failed'")
    touch(dsn, moved, "unix_timestamp = '20140704120000'")
    sql(dsn, "delete from scrape_pages where id = any(%s)", (deleted,))
    insert_page(dsn, 900_001, "20160505050505")
    insert_page(dsn, 900_002, "19990101000000")
    holding = {p for p, keys in before.items() if keys & set(updated + deleted + moved)}
    lake.run(env=env)

    assert lake.pages() == source_pages(dsn)
    after = file_keys(lake)
    retired = set(before) - set(after)
    # the files holding a changed, moved or deleted row, 2014's file (the moved rows are new
    # to it) and at most one more in 2016 (the smallest with room for the new row, when none
    # of those has more room)
    extra = sorted(p.split("/")[0] for p in retired - holding)
    assert holding <= retired and extra in (
        [year_dir(2014)],
        [year_dir(2014), year_dir(2016)],
    ), (holding, retired)
    new_2016 = [p for p in set(after) - set(before) if f"/{year_dir(2016)}/" in f"/{p}"]
    # a rewritten file past the limit is split in two
    assert len(new_2016) >= len([p for p in retired if f"/{year_dir(2016)}/" in f"/{p}"])
    assert any(900_001 in after[p] for p in new_2016)
    # each file the run wrote (those of the split group too) is in order_by order
    for path in set(after) - set(before):
        in_file_order = sort_keys_in_file_order(lake, path)
        assert in_file_order == sorted(in_file_order), path
    for path in set(before) & set(after):
        assert before[path] == after[path]
    assert all(len(keys) <= cap for keys in after.values())

    # a partition's new rows fill a file up to the limit, then start another one; their
    # domains (the first order_by column) are not in the order of their ids, so the two files
    # are in order_by order only if the run sorted the group's rows before splitting them
    inserted = list(range(910_000, 910_000 + cap + 20))
    for index, page_id in enumerate(inserted):
        insert_page(dsn, page_id, "20300101000000", domain_id=1 + (index * 7) % 11)
    lake.run(env=env)
    assert lake.pages() == source_pages(dsn)
    keys_2030 = {p: k for p, k in file_keys(lake).items() if f"/{year_dir(2030)}/" in f"/{p}"}
    assert sorted(len(keys) for keys in keys_2030.values()) == [cap // 2 + 10] * 2
    paths_2030 = list(keys_2030)
    in_order = [sort_keys_in_file_order(lake, path) for path in paths_2030]
    assert all(keys == sorted(keys) for keys in in_order)
    first, second = sorted(in_order)
    assert first[-1] < second[0]  # consecutive ranges of the order
    lake.run(env=env)
    assert lake.stats()["files_written"] == 0

    # the limit lowered (as when a model's max_file_rows is set below its files' rows): a
    # touched file past the new limit is rewritten as several files, each in order_by order,
    # holding consecutive ranges of the order; the other files stay as they are
    lower = {"CHRONO_LAKE_MAX_FILE_ROWS": str(cap // 2)}
    before = file_keys(lake)
    page = ids_in_year(source_pages(dsn), 2016, 1)
    (holding_file,) = [path for path, keys in before.items() if page[0] in keys]
    assert len(before[holding_file]) > cap // 2
    touch(dsn, page, "status = 'failed'")
    lake.run(env=lower)
    assert lake.pages() == source_pages(dsn)
    after = file_keys(lake)
    assert set(before) - set(after) == {holding_file}
    written = sorted(set(after) - set(before))
    assert len(written) == -(-len(before[holding_file]) // (cap // 2))
    assert sorted(k for path in written for k in after[path]) == sorted(before[holding_file])
    in_order = sorted(sort_keys_in_file_order(lake, path) for path in written)
    assert all(keys == sorted(keys) for keys in in_order)
    assert all(prev[-1] < nxt[0] for prev, nxt in itertools.pairwise(in_order))
    assert in_order[-1][-1][0], "the pages without domain (NULL sorts last) are in the last file"


def test_a_sorted_table_scans_in_order_by_row_position_at_a_size_duckdb_builds_in_parallel(
    tmp_path: Path,
) -> None:
    """What a write of several files of a group relies on (a partition in a full refresh, a
    rewritten file past max_file_rows in an incremental run) to write each file as a range of
    row positions (rowid) with no sort of its own: a temp table created from a sorted query
    holds its rows at positions 0, 1, ... in that order, and a scan of a range of positions,
    copied to Parquet, keeps that order. Checked with several threads on more rows than one
    row group (122,880), from rows in random order, with NULLs and ties in the first sort
    column."""
    rows = 400_000
    with duckdb.connect() as conn:
        conn.execute("set threads = 4")
        conn.execute(
            "create temp table shuffled as select i as id, "
            "case when i % 97 = 0 then null "
            "else chr(cast(97 + (i * 7919) % 26 as integer)) end as word, "
            f"(i * 104729) % 1000 as day, repeat('x', i % 50) as payload from range({rows}) t(i) "
            "order by random()"
        )
        conn.execute("create temp table stored as select * from shuffled order by word, day, id")
        expected = [
            r[0] for r in conn.execute("select id from shuffled order by word, day, id").fetchall()
        ]
        for first, end in [(0, 70_000), (70_000, 200_000), (200_000, 333_333), (333_333, rows)]:
            target = tmp_path / f"{first}.parquet"
            conn.execute(
                f"copy (select * from stored where rowid >= {first} and rowid < {end}) "
                f"to '{target}' (format parquet, row_group_size 20000)"
            )
            in_file = conn.execute(
                f"select id from read_parquet('{target}', file_row_number = true) "
                "order by file_row_number"
            ).fetchall()
            assert [r[0] for r in in_file] == expected[first:end], (first, end)


def test_no_value_of_updated_at_hides_a_change(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """Far-future, infinite, NULL and backdated updated_at values: every change still reaches
    the lake by the next run, and the watermark never passes the source's clock."""
    dsn = make_source_db(pages=PAGES, seed=27)
    sql(dsn, "alter table scrape_pages alter column updated_at drop not null")
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    original = source_pages(dsn)
    future, infinite, nulled = ids_in_year(original, 2015, 3)
    touch(dsn, [future], "status = 'failed'", datetime(9999, 12, 31, tzinfo=UTC))
    sql(
        dsn,
        "update scrape_pages set updated_at = 'infinity', status = 'retry' where id = %s",
        (infinite,),
    )
    sql(
        dsn,
        "update scrape_pages set updated_at = null, status = 'skipped' where id = %s",
        (nulled,),
    )
    lake.run()
    assert lake.pages() == source_pages(dsn)
    watermark = datetime.fromisoformat(lake.snapshot().watermark or "")
    assert watermark <= now_utc()

    # later changes with ordinary timestamps are still picked up, and so are further changes
    # of the rows stamped in the future, at infinity or NULL
    (ordinary,) = ids_in_year(original, 2016, 1)
    touch(dsn, [ordinary], "status = 'completed'")
    sql(
        dsn,
        "update scrape_pages set retry_count = 9 where id = any(%s)",
        ([future, infinite, nulled],),
    )
    lake.run()
    assert lake.pages() == source_pages(dsn)
    assert lake.stats()["changed_rows"] == 4


def test_a_transaction_open_across_a_run_is_not_missed(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """The application stamps updated_at with its transaction's start; a transaction that
    began before a run and commits after it carries an updated_at older than that run's
    clock. The watermark is held back to the oldest open transaction, so the next run reads
    it even with no lookback."""
    dsn = make_source_db(pages=PAGES, seed=29)
    # the application's writer: a login role of its own (the warehouse ignores its own sessions)
    sql(
        dsn,
        "do $$ begin if not exists (select from pg_roles where rolname = 'app_writer') then "
        "create role app_writer login; end if; end $$",
    )
    sql(dsn, "grant select, update on scrape_pages to app_writer")
    writer_dsn = admin_dsn(dsn).replace("user=postgres", "user=app_writer")
    lake = FixtureLake(dsn, tmp_path)
    lake.run(dbt_vars={"lookback_hours": 0})
    (page,) = ids_in_year(source_pages(dsn), 2013, 1)

    app = psycopg2.connect(writer_dsn)
    try:
        with app.cursor() as cur:
            cur.execute("select now()")  # the transaction starts now: updated_at = now()
            lake.run(dbt_vars={"lookback_hours": 0})  # a run while it is open
            cur.execute(
                "update scrape_pages set status = 'failed', updated_at = now() where id = %s",
                (page,),
            )
        app.commit()
    finally:
        app.close()
    lake.run(dbt_vars={"lookback_hours": 0})
    assert lake.pages()[page][3] == "failed"
    assert lake.pages() == source_pages(dsn)


def yearly_counts(dsn: str) -> dict[int | None, tuple[int, int]]:
    """pages_yearly_counts as the source says: per archive year, pages and retries."""
    counts: dict[int | None, tuple[int, int]] = {}
    for row in source_pages(dsn).values():
        count, total = counts.get(row[5], (0, 0))
        counts[row[5]] = (count + 1, total + row[4])
    return counts


def test_a_downstream_model_follows_the_change_feed(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=31)
    lake = FixtureLake(dsn, tmp_path, model="pages_yearly_counts")
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    assert lake.stats()["narrowed_inputs"] == 0  # a full build reads every year
    original = source_pages(dsn)
    moved = ids_in_year(original, 2012, 1)
    touch(dsn, moved, "unix_timestamp = '20090101000000', retry_count = retry_count + 5")
    sql(dsn, "delete from scrape_pages where id = any(%s)", (ids_in_year(original, 2017, 1),))
    # and a page of the NULL year (an unparseable timestamp): NULL is a recomputed value too
    (undated,) = ids_in_year(original, None, 1)
    touch(dsn, [undated], "retry_count = retry_count + 7")
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    stats = lake.stats()
    # 2012, 2009, 2017 and the NULL year, not every year; the model's read of pages_by_year
    # (through a common table expression used twice) filtered on them
    assert stats["recompute_values"] == 4, stats
    assert stats["narrowed_inputs"] == 1, stats
    expected = yearly_counts(dsn)
    assert {r[0]: (r[2], r[3]) for r in lake.rows()} == expected
    # a rerun with no change recomputes nothing: the model skips to its commit (the watermark
    # and the upstream version it consumed move on), writing no file
    files = lake.data_files()
    version = lake.snapshot().version
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    stats = lake.stats()
    assert stats["recompute_values"] == 0 and stats["nothing_to_recompute"] is True, stats
    assert stats["files_written"] == 0 and lake.data_files() == files
    assert lake.snapshot().version == version + 1
    assert {r[0]: (r[2], r[3]) for r in lake.rows()} == expected
    # pages changed only in columns the model does not read (status, updated_at): the feed
    # names their year under those columns, and the model, reading archive_year and
    # retry_count (upstream_columns), recomputes nothing; a retry count changed in the same
    # run recomputes its year alone
    status_only = ids_in_year(original, 2014, 3)
    flipped = "status = case when status = 'failed' then 'completed' else 'failed' end"
    touch(dsn, status_only, flipped)
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    assert lake.stats()["recompute_values"] == 0, lake.stats()
    upstream = lake.reader.snapshot("pages_by_year")
    assert upstream is not None and upstream.run["changed_rows"] == 3
    assert [g["columns"] for g in upstream.changed_columns["archive_year"]] == [
        ["page_status", "updated_at"]
    ]
    touch(dsn, status_only[:1], "status = 'pending'")
    touch(dsn, ids_in_year(original, 2015, 1), "retry_count = retry_count + 2")
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    assert lake.stats()["recompute_values"] == 1, lake.stats()
    expected = yearly_counts(dsn)
    assert {r[0]: (r[2], r[3]) for r in lake.rows()} == expected
    # every undated page dated: the NULL year's row leaves. No key of the run's rows is its
    # key, so only its NULL recompute value finds it among the stored rows
    undated_pages = [page for page, row in source_pages(dsn).items() if row[5] is None]
    touch(dsn, undated_pages, "unix_timestamp = '20080101000000'")
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    assert lake.stats()["deleted_rows"] == 1, lake.stats()
    expected = yearly_counts(dsn)
    assert None not in expected
    assert {r[0]: (r[2], r[3]) for r in lake.rows()} == expected
    # upstream_columns naming a model this one does not read (misspelt) is refused, naming it
    files = lake.data_files()
    misnamed = lake.run(dbt_vars={"yearly_counts_variant": "misnamed_upstream"}, check=False)
    assert misnamed.returncode != 0
    assert "recompute.upstream_columns names pages_by_yeer, not an incremental_parquet model" in (
        misnamed.stdout
    )
    assert lake.data_files() == files
    # a change whose feed outnumbers the limit is not recorded: the downstream model then
    # recomputes everything, and still holds the right rows
    touch(dsn, ids_in_year(source_pages(dsn), 2012, 1), "retry_count = retry_count + 3")
    lake.dbt(
        "run",
        "--select",
        "pages_by_year",
        "pages_yearly_counts",
        env={"CHRONO_LAKE_FEED_LIMIT": "0"},
    )
    stats = lake.stats()
    assert stats["recompute_values"] is None and stats["mode"] == "incremental", stats
    assert {r[0]: (r[2], r[3]) for r in lake.rows()} == yearly_counts(dsn)
    files = lake.data_files()
    # ... but not past a schema change: a new column still meets on_schema_change='fail';
    # and a column Parquet stores with another type is named (a HUGEINT sum -> DOUBLE)
    changed = lake.run(dbt_vars={"yearly_counts_variant": "changed"}, check=False)
    assert changed.returncode != 0 and "New columns: [extra_column INTEGER]" in changed.stdout
    assert "column retry_total is HUGEINT in the model and DOUBLE in Parquet" in changed.stdout
    assert lake.data_files() == files


def test_two_partition_levels(make_source_db: Callable[..., str], tmp_path: Path) -> None:
    dsn = make_source_db(pages=PAGES, seed=23)
    lake = FixtureLake(dsn, tmp_path, model="pages_by_month")
    lake.run()
    original = source_pages(dsn)
    (page,) = ids_in_year(original, 2011, 1)
    touch(dsn, [page], "unix_timestamp = '20130909090909'")
    before = lake.live_files()
    lake.run()
    rows = {r[0]: r for r in lake.rows()}
    assert (rows[page][3], rows[page][4]) == (2013, 9)
    old = original[page][2]
    assert old is not None
    changed = retired_partitions(before, lake.live_files())
    assert "archive_year=2013/archive_month=9" in changed
    assert f"archive_year=2011/archive_month={int(old[4:6])}" in changed
    assert len(changed) == 2
    assert sorted(rows) == sorted(source_pages(dsn))


def labelled_pages(dsn: str) -> dict[int, Row]:
    """pages_by_label computed from the source in Python: (id, label, year start)."""
    rows = sql(dsn, "select id, status, unix_timestamp from scrape_pages")
    found = {}
    for page_id, status, wayback in rows:
        year = archive_year(wayback)
        label = None if page_id % 7 == 0 else f"{status}'s"
        found[page_id] = (page_id, label, None if year is None else date(year, 1, 1))
    return found


def test_partitions_of_text_with_a_quote_of_dates_and_of_null(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """Each partition's file is written from a filter of literal values of its partition
    columns: a text holding a quote, a date, NULL, in a full build and for rows moving into an
    existing partition or into a new one."""
    dsn = make_source_db(pages=PAGES, seed=29)
    lake = FixtureLake(dsn, tmp_path, model="pages_by_label")
    query = "select page_id, page_label, archive_year_start from {model}"

    def stored() -> dict[int, Row]:
        return {row[0]: tuple(row) for row in lake.rows(query)}

    lake.run()
    expected = labelled_pages(dsn)
    assert {row[1] for row in expected.values()} >= {None, "pending's"}
    assert None in {row[2] for row in expected.values()}
    assert stored() == expected
    # one partition per folder, one folder per partition
    folders = lake.rows(
        "select regexp_replace(filename, '/[^/]*$', ''), count(distinct (page_label, "
        f"archive_year_start)) from read_parquet('{lake.location}/*/*/*.parquet', "
        "filename = true, hive_partitioning = false) group by all"
    )
    partitions = {(row[1], row[2]) for row in expected.values()}
    assert len(folders) == len(partitions) and {row[1] for row in folders} == {1}

    movers = sorted(p for p, row in expected.items() if row[1] == "pending's" and p % 7)[:3]
    touch(dsn, movers[:2], "status = 'failed'")  # into another label's partitions
    touch(dsn, movers[2:], "status = 'it''s'")  # into a new partition
    lake.run()
    after = labelled_pages(dsn)
    assert after[movers[0]][1] == "failed's" and after[movers[2]][1] == "it's's"
    assert stored() == after
    assert lake.stats()["changed_rows"] == 3


# -- configuration and bad input ---------------------------------------------------------------


def test_a_changed_partition_by_fails_incrementally_and_a_full_refresh_replaces_the_layout(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=1_000, seed=33)
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    before = lake.data_files()
    renamed = {"pages_partition": "capture_year"}
    failed = lake.run(dbt_vars=renamed, check=False)
    assert failed.returncode != 0
    assert (
        "partitioned by (archive_year INTEGER), the model by (capture_year INTEGER)"
        in failed.stdout
    )
    assert "--full-refresh" in failed.stdout
    assert lake.data_files() == before
    lake.run("--full-refresh", dbt_vars=renamed)
    assert all(p.startswith("capture_year=") for p in lake.live_files())
    assert lake.snapshot().rows == len(source_pages(dsn))


def test_an_empty_model_has_a_working_view_and_fills_later(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=1_000, seed=35)
    lake = FixtureLake(dsn, tmp_path)
    lake.run(dbt_vars={"pages_filter": "false"})
    assert lake.snapshot().files == () and lake.rows("select count(*) from {model}") == [(0,)]
    with lake.warehouse.connect(attach_source=False) as conn:
        assert conn.execute("select count(*) from main.pages_by_year").fetchone() == (0,)
    lake.run("--full-refresh")
    assert lake.pages() == source_pages(dsn)


def test_on_schema_change_fail_and_append_new_columns(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=1_000, seed=37)
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    before = lake.data_files()
    extra = {"pages_extra_column": True}
    failed = lake.run(dbt_vars=extra, check=False)
    assert failed.returncode != 0
    assert "New columns: [status_code INTEGER]" in failed.stdout
    assert lake.data_files() == before
    (page,) = ids_in_year(source_pages(dsn), 2010, 1)
    touch(dsn, [page], "status = 'failed'")
    before = lake.live_files()
    lake.run(dbt_vars={**extra, "pages_on_schema_change": "append_new_columns"})
    rewritten = retired_partitions(before, lake.live_files())
    assert year_dir(2010) in rewritten and len(rewritten) < len(before)
    # the rows this run rebuilt (the touched page, the lookback's) have the new column; the
    # rows kept from before read NULL (dbt's append_new_columns)
    rows = lake.rows("select page_id, archive_year from {model} where status_code is not null")
    assert page in {r[0] for r in rows} and len(rows) == lake.stats()["changed_rows"]
    assert {year_dir(r[1]) for r in rows} <= rewritten
    assert "status_code INTEGER" in [f"{c.name} {c.type}" for c in lake.snapshot().columns]
    # files of two schemas now: the views unify them by name (both dbt's and the reader's)
    assert not lake.snapshot().uniform_schema
    assert "union_by_name" in lake.view_definition()
    reader_rows = lake.reader.query("select count(*), count(status_code) from pages_by_year")
    assert reader_rows == [(len(source_pages(dsn)), len(rows))]
    # a full refresh rewrites every file with the new columns: one schema again
    lake.run("--full-refresh", dbt_vars={**extra, "pages_on_schema_change": "append_new_columns"})
    assert lake.snapshot().uniform_schema and "union_by_name" not in lake.view_definition()
    assert lake.rows("select count(*) from {model}") == [(len(source_pages(dsn)),)]


def test_a_schema_change_that_rewrites_no_file_leaves_the_views_unifying_the_files(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """A new column committed by a run that changes no row (nothing in the lookback): every
    file kept holds the old columns, so the snapshot no longer claims one schema and both
    views read the new column as NULL (before the fix, the files kept their digests and the
    views read them by the first file's schema: dbt's view failed on the new column, after
    the snapshot naming it was committed)."""
    dsn = make_source_db(pages=1_000, seed=38)
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    before = lake.data_files()
    lake.run(
        dbt_vars={
            "pages_extra_column": True,
            "pages_on_schema_change": "append_new_columns",
            "lookback_hours": 0,
        }
    )
    assert lake.stats()["files_written"] == 0 and lake.data_files() == before
    snapshot = lake.snapshot()
    assert "status_code" in [c.name for c in snapshot.columns]
    assert not snapshot.uniform_schema and {f.schema for f in snapshot.files} == {None}
    assert "union_by_name" in lake.view_definition()
    assert lake.rows("select count(*), count(status_code) from {model}") == [
        (len(source_pages(dsn)), 0)
    ]


@pytest.mark.parametrize(
    ("switch", "message"),
    [
        ("pages_null_keys", f"1 of {PAGES + 1} rows have a NULL unique_key (page_id)"),
        ("pages_duplicate_keys", "rows repeat a unique_key (page_id), e.g."),
    ],
)
def test_bad_keys_fail_with_a_clear_message_and_release_the_lake(
    switch: str, message: str, make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=PAGES, seed=39)
    lake = FixtureLake(dsn, tmp_path)
    failed = lake.run("--full-refresh", dbt_vars={switch: True}, check=False)
    assert failed.returncode != 0 and message in failed.stdout, failed.stdout[-2000:]
    assert lake.reader.snapshot("pages_by_year") is None
    lake.run()  # the lock was released: the next run works
    assert lake.pages() == source_pages(dsn)


def test_a_second_writer_waits_for_the_lock_and_names_the_holder(
    built: FixtureLake, tmp_path: Path
) -> None:
    store = open_store(built.location)
    lock.acquire(store, "test", "the lock test", timeout=1)
    try:
        failed = built.dbt(
            "run", "--select", "pages_by_year", check=False, env={"CHRONO_LAKE_LOCK_TIMEOUT": "2"}
        )
    finally:
        lock.release(store)
    assert failed.returncode != 0
    assert "is being written by pid" in failed.stdout and "the lock test" in failed.stdout
    built.run()


# -- crashes -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crash_source(make_source_db: Callable[..., str]) -> str:
    return make_source_db(pages=2_000, seed=41)


CRASH_POINTS = ["after_begin", "during_write", "before_publish", "after_publish", "during_vacuum"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_at_any_point_leaves_a_readable_lake_and_the_rerun_converges(
    point: str, crash_source: str, tmp_path: Path
) -> None:
    dsn = crash_source
    lake = FixtureLake(dsn, tmp_path)
    # files of about 60 rows: a partition is several files, a run rewrites some of them and
    # splits others, and is killed between them
    small = {"CHRONO_LAKE_MAX_FILE_ROWS": "60", "CHRONO_LAKE_RETENTION_SECONDS": "0"}
    lake.run(env=small)
    assert len(lake.snapshot().files) > len(lake.live_files())
    pages = source_pages(dsn)
    version = lake.snapshot().version
    changed = ids_in_year(pages, 2012, 2) + ids_in_year(pages, 2014, 1)
    touch(dsn, changed, "retry_count = retry_count + 1, unix_timestamp = '20090101000000'")
    expected = source_pages(dsn)
    try:
        # the killed run lowers the limit below the touched files' rows: it splits each of
        # them into files of consecutive ranges of a sorted temp table, killed between them
        lowered = {**small, "CHRONO_LAKE_MAX_FILE_ROWS": "40"}
        killed = lake.run(check=False, env={**lowered, "CHRONO_LAKE_CRASH_AT": point})
        assert killed.returncode != 0
        # readable, one committed state: the old one, or the new one once published
        published = point in ("after_publish", "during_vacuum")
        assert lake.snapshot().version == version + (1 if published else 0)
        if published:
            assert lake.stats()["files_written"] > lake.stats()["files_retired"] > 0
        assert lake.pages() == (expected if published else pages)
        assert lake.key_counts()[0] == lake.key_counts()[1]
        # the next run converges, and its vacuum removes the crashed run's leftovers
        lake.run(env=small)
        assert lake.pages() == expected
        assert sorted(lake.data_files()) == sorted(f.path for f in lake.snapshot().files)
    finally:
        touch(dsn, changed, "retry_count = retry_count - 1")
        for page_id in changed:
            sql(
                dsn,
                "update scrape_pages set unix_timestamp = %s where id = %s",
                (pages[page_id][2], page_id),
            )


def test_a_crashed_upstream_run_leaves_downstream_models_reading_one_snapshot(
    crash_source: str, tmp_path: Path
) -> None:
    """A model reading a mart whose run crashed mid-write builds from the last committed
    snapshot: there is no half-written state to read."""
    lake = FixtureLake(crash_source, tmp_path, model="pages_yearly_counts")
    lake.dbt("run", "--select", "pages_by_year", "pages_yearly_counts")
    pages = source_pages(crash_source)
    changed = ids_in_year(pages, 2012, 3)
    touch(crash_source, changed, "retry_count = retry_count + 10")
    try:
        lake.dbt(
            "run",
            "--select",
            "pages_by_year",
            check=False,
            env={"CHRONO_LAKE_CRASH_AT": "during_write"},
        )
        lake.dbt("run", "--select", "pages_yearly_counts")
        counts = {r[0]: r[3] for r in lake.rows()}
        totals: dict[int | None, int] = {}
        for row in pages.values():
            totals[row[5]] = totals.get(row[5], 0) + row[4]
        assert counts == totals  # the committed snapshot's, not the crashed run's
    finally:
        touch(crash_source, changed, "retry_count = retry_count - 10")


def test_a_reverted_commit_shows_the_previous_state_and_the_next_run_reads_it_again(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    """What the sync does when a cycle's gating tests fail: the mart goes back to the snapshot
    before the cycle (readers see its rows), and the next run starts from that snapshot's
    watermark, so it reads the reverted changes again and converges."""
    dsn = make_source_db(pages=PAGES, seed=41)
    lake = FixtureLake(dsn, tmp_path)
    lake.run()
    good = lake.snapshot()
    good_pages = lake.pages()
    changed = ids_in_year(source_pages(dsn), 2012, 3)
    touch(dsn, changed, "status = 'failed', retry_count = retry_count + 1")
    lake.run()
    assert lake.snapshot().version == good.version + 1
    assert lake.pages() != good_pages

    restored = revert(open_store(str(lake.location)), good.version, "gating tests failed")
    assert restored.version == good.version + 2
    assert restored.run["mode"] == "revert" and restored.run["reverted_to"] == good.version
    assert lake.snapshot().files == good.files
    assert lake.pages() == good_pages  # readers see the last good state again
    assert lake.snapshot().watermark == good.watermark

    lake.run()  # the changes are read again: the lake converges to the source
    assert {i: lake.pages()[i][3] for i in changed} == {i: "failed" for i in changed}
    assert lake.pages() == source_pages(dsn)
