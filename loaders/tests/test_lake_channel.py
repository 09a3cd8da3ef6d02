"""The lake's steps as the materialization sends them through ``chrono_lake`` (lake/channel.py),
driven directly with requests a broken or hostile caller could send: files reported at the
commit that the plan never made, reported twice, or with rows they do not hold. Each is
refused with a message naming the file, and the lake keeps its committed snapshot. And the
vacuum each commit ends with, on a long history."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chrono_analytics.lake import channel
from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.snapshot import LakeError, list_versions, read_snapshot, snapshot_path
from chrono_analytics.lake.store import Store, open_store
from chrono_analytics.lake.writer import vacuum

CONFIG = {
    "partition_by": [{"name": "year", "data_type": "integer"}],
    "unique_key": "page_id",
    "order_by": ["page_id"],
}


def call(root: Path, op: str, **fields: Any) -> Any:
    request = {"op": op, "model": "pages", "external_root": str(root), "config": CONFIG, **fields}
    answer = json.loads(channel.handle(json.dumps(request)))
    if not answer["ok"]:
        raise RuntimeError(answer["error"])
    return answer["result"]


def write_run(
    root: Path, years: dict[int, list[int]], more_columns: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """A full refresh up to its commit: begin, schema (page_id, and `more_columns` as
    VARCHAR, which the files leave out), plan, then each planned file written with pyarrow
    (as DuckDB's COPY would) and the first reported; returns the files as the commit lists
    them."""
    call(root, "begin", invocation_id="test", full_refresh=True)
    columns = [{"name": "page_id", "type": "BIGINT"}]
    columns += [{"name": name, "type": "VARCHAR"} for name in more_columns]
    call(root, "schema", columns=columns)
    inserts = [
        {"values": {"year": year}, "rows": len(ids), "number": number}
        for number, (year, ids) in enumerate(sorted(years.items()))
    ]
    plan = call(root, "plan", touched=[], inserts=inserts)
    written = []
    for group in plan["groups"]:
        (file,) = group["files"]
        ids = years[group["partition"]["year"]]
        path = root / "pages" / file["relpath"]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"page_id": pa.array(ids, pa.int64())}), path)
        if not written:
            call(root, "written", relpath=file["relpath"], rows=len(ids))
        written.append({"relpath": file["relpath"], "rows": len(ids)})
    return written


def commit(root: Path, written: list[dict[str, Any]]) -> Any:
    return call(root, "commit", written=written, watermark=None, changes={}, run={})


def committed_version(root: Path) -> int | None:
    snapshot = Lake(root).snapshot("pages")
    return None if snapshot is None else snapshot.version


def test_every_file_listed_with_the_commit_is_committed(tmp_path: Path) -> None:
    written = write_run(tmp_path, {2010: [1, 2, 3], 2011: [4, 5], 2012: [6]})
    summary = commit(tmp_path, written)
    assert summary["version"] == 1
    assert sorted(summary["files"]) == sorted(w["relpath"] for w in written)
    assert summary["rows"] == 6


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda w: [*w, w[1]], "reported more than once"),
        (lambda w: [w[0], {**w[1], "rows": w[1]["rows"] + 1}, w[2]], "rows, 3 were planned"),
        (
            lambda w: [*w, {"relpath": "year=2010/v000001-not-planned.parquet", "rows": 1}],
            "is not a file of this run's plan",
        ),
    ],
    ids=["a file twice", "rows it does not hold", "a file the plan never made"],
)
def test_a_commit_listing_files_wrongly_is_refused_and_the_lake_keeps_its_snapshot(
    tmp_path: Path, tamper: Any, message: str
) -> None:
    commit(tmp_path, write_run(tmp_path, {2010: [1], 2011: [2]}))
    written = write_run(tmp_path, {2010: [1, 2], 2011: [3, 4], 2012: [5]})
    with pytest.raises(RuntimeError, match=message):
        commit(tmp_path, tamper(written))
    assert committed_version(tmp_path) == 1
    # the failed step released the lock: the next run commits
    assert commit(tmp_path, write_run(tmp_path, {2013: [9]}))["version"] == 2


def test_only_the_first_file_is_reported_as_it_lands(tmp_path: Path) -> None:
    written = write_run(tmp_path, {2010: [1], 2011: [2]})
    with pytest.raises(RuntimeError, match="only a run's first file is reported"):
        call(tmp_path, "written", relpath=written[1]["relpath"], rows=1)
    assert committed_version(tmp_path) is None


class CountingStore:
    """The lake's own store, counting the snapshot manifests read through it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.read: list[str] = []

    def read_text(self, relpath: str) -> str | None:
        self.read.append(relpath)
        return self.inner.read_text(relpath)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def parquet_files(model_root: Path) -> set[str]:
    return {p.relative_to(model_root).as_posix() for p in model_root.rglob("*.parquet")}


def twelve_commits(root: Path) -> tuple[Store, dict[int, float], dict[int, set[str]]]:
    """12 full refreshes of `pages`, at least 10 ms apart: the store, and each snapshot's
    commit time and files."""
    for number in range(12):
        commit(root, write_run(root, {2024: [number]}))
        time.sleep(0.01)
    store = open_store(str(root / "pages"))
    snapshots = {v: read_snapshot(store, v) for v in list_versions(store)}
    assert sorted(snapshots) == list(range(1, 13))
    committed = {v: s.committed_at.timestamp() for v, s in snapshots.items() if s}
    files = {v: set(s.file_paths()) for v, s in snapshots.items() if s}
    return store, committed, files


def test_the_versions_are_the_snapshot_manifests_named_by_a_number(tmp_path: Path) -> None:
    """A snapshot folder can also hold a publish's temporary file, a folder, or a stray file a
    user left there; only `<digits>.json` files directly in it are versions, and a name of
    other digits (superscripts) fails nothing."""
    folder = tmp_path / "pages" / "_chrono" / "snapshots"
    (folder / "0000000005.json").mkdir(parents=True)
    (folder / "nested").mkdir()
    directly_in = [
        "0000000001.json",
        "0000000012.json",
        ".tmp-0a1b-0000000013.json",
        "\u00b2\u00b3.json",
        "0000000015.json.bak",
        "notes.txt",
    ]
    for name in [*directly_in, "nested/0000000014.json"]:
        (folder / name).write_text("{}\n")
    store = open_store(str(tmp_path / "pages"))
    assert sorted(store.list_names("_chrono/snapshots")) == sorted(directly_in)
    assert list_versions(store) == [1, 12]
    assert store.list_names("_chrono/missing") == []
    # list_files: every file below, by its path from the model's location, with its size
    assert {f.relpath: f.size for f in store.list_files("_chrono")} == {
        f"_chrono/snapshots/{name}": 3 for name in [*directly_in, "nested/0000000014.json"]
    }
    assert store.list_files("_chrono/missing") == []


def test_the_vacuum_reads_only_the_snapshots_a_reader_may_still_read(tmp_path: Path) -> None:
    store, committed, files = twelve_commits(tmp_path)
    retention = 600.0
    # 2 ms short of the retention time after snapshot 8 was committed: snapshot 7 (current
    # until then) may still be read, snapshot 6 (current until 7, at least 10 ms earlier) not
    clock = committed[8] + retention - 0.002
    counting = CountingStore(store)
    vacuum(counting, retention, history_snapshots=100, now=clock)
    assert counting.read == [snapshot_path(v) for v in range(12, 6, -1)]
    present = parquet_files(tmp_path / "pages")
    assert set().union(*(files[v] for v in range(7, 13))) <= present
    assert not present & set().union(*(files[v] for v in range(1, 7)))
    # no retention: the latest snapshot is still kept, and the only one read
    counting = CountingStore(store)
    vacuum(counting, 0.0, history_snapshots=100, now=committed[12] + 3600)
    assert counting.read == [snapshot_path(12)]
    assert parquet_files(tmp_path / "pages") == files[12]


def test_a_missing_manifest_inside_the_retention_keeps_the_snapshot_before_it(
    tmp_path: Path,
) -> None:
    """Snapshot 7's manifest gone (a broken copy of the lake): the listing goes from 6 to 8,
    so 6 counts as current until 8 was committed, inside the retention, and keeps its files;
    the walk stops at 5, whose successor (6) was committed long enough ago. 7's files are
    named by no snapshot left, and deleted."""
    store, committed, files = twelve_commits(tmp_path)
    (tmp_path / "pages" / snapshot_path(7)).unlink()
    retention = 600.0
    counting = CountingStore(store)
    vacuum(counting, retention, history_snapshots=100, now=committed[8] + retention - 0.002)
    assert counting.read == [snapshot_path(v) for v in (12, 11, 10, 9, 8, 6)]
    present = parquet_files(tmp_path / "pages")
    assert set().union(*(files[v] for v in (6, 8, 9, 10, 11, 12))) <= present
    assert not present & set().union(*(files[v] for v in (1, 2, 3, 4, 5, 7)))


def test_a_corrupt_manifest_fails_the_vacuum_only_while_a_reader_may_need_it(
    tmp_path: Path,
) -> None:
    store, committed, files = twelve_commits(tmp_path)
    (tmp_path / "pages" / snapshot_path(2)).write_text("{not json")
    # inside the retention: which files snapshot 2 names is unknown, so the vacuum refuses
    # and names the manifest (it deletes nothing)
    with pytest.raises(LakeError, match=r"0000000002\.json is not a valid snapshot"):
        vacuum(store, 600.0, history_snapshots=100, now=committed[12] + 1)
    assert set().union(*files.values()) <= parquet_files(tmp_path / "pages")
    # an hour later no reader can be on it: the vacuum no longer reads it, and goes on
    vacuum(store, 600.0, history_snapshots=100, now=committed[12] + 3600)
    assert parquet_files(tmp_path / "pages") == files[12]


def test_the_change_feed_gives_a_reader_the_rows_changed_in_the_columns_it_reads(
    tmp_path: Path,
) -> None:
    """The feed as a commit sends it (an entry's values, and for each list of changed columns
    the positions of its values) and as changes_since gives it back: every value to a reader
    of all columns, to a reader of some columns the values of rows changed in one of them, of
    rows inserted or deleted (['*']) and of rows whose entry column itself changed; a commit
    that sent plain values (no changed columns) gives all of them to every reader."""
    commit(tmp_path, write_run(tmp_path, {2010: [1]}, ("status", "retries", "title", "year")))
    feed = {
        "values": [2010, 2011, 2012, 2013],
        "changed_columns": [
            {"columns": ["status", "updated_at"], "values": [0, 1]},
            {"columns": ["retries", "updated_at"], "values": [1, 2]},
            {"columns": ["year"], "values": [3]},
            {"columns": ["*"], "values": [0]},
        ],
    }
    call(tmp_path, "begin", invocation_id="second", full_refresh=False)
    call(tmp_path, "commit", written=[], watermark=None, changes={"year": json.dumps(feed)}, run={})
    call(tmp_path, "begin", invocation_id="third", full_refresh=False)
    call(tmp_path, "commit", written=[], watermark=None, changes={"year": "[2020]"}, run={})
    stored = read_snapshot(open_store(str(tmp_path / "pages")), 2)
    assert stored is not None and stored.changed_columns["year"] == feed["changed_columns"]

    def values(upto: int, columns_read: list[str] | None) -> Any:
        answer = call(
            tmp_path,
            "changes_since",
            column="year",
            after_version=1,
            upto_version=upto,
            columns_read=columns_read,
        )
        return answer["values"]

    assert values(2, None) == [2010, 2011, 2012, 2013]
    assert values(2, ["retries"]) == [2010, 2011, 2012, 2013]
    assert values(2, ["title"]) == [2010, 2013]
    assert values(2, ["status", "retries"]) == [2010, 2011, 2012, 2013]
    assert values(3, ["title"]) == [2010, 2013, 2020]
    # a column the model does not have (misspelt in recompute.upstream_columns) is named
    with pytest.raises(
        RuntimeError, match=re.escape("yearly's recompute.upstream_columns names titel, ")
    ):
        call(
            tmp_path,
            "changes_since",
            column="year",
            after_version=1,
            columns_read=["titel"],
            reader="yearly",
        )


def test_a_snapshot_whose_files_share_one_schema_is_read_without_unifying_them(
    tmp_path: Path,
) -> None:
    """The commit records a digest of each file's Parquet schema. Readers read a snapshot
    whose files all share one by the first file's schema; they unify the files' columns by
    name (which reads every file's footer at each query) when the digests differ, or when a
    manifest written before digests were recorded holds none."""
    commit(tmp_path, write_run(tmp_path, {2020: [1, 2], 2021: [3]}))
    path = tmp_path / "pages" / snapshot_path(1)

    def view_of_pages() -> str:
        with Lake(tmp_path).connect() as conn:
            assert conn.execute("select sum(page_id) from pages").fetchone() == (6,)
            row = conn.execute(
                "select sql from duckdb_views() where view_name = 'pages'"
            ).fetchone()
        assert row is not None
        return str(row[0])

    manifest = json.loads(path.read_text())
    digests = {f["schema"] for f in manifest["files"]}
    assert len(digests) == 1 and re.fullmatch("[0-9a-f]{16}", digests.pop())
    assert "union_by_name" not in view_of_pages()

    manifest["files"][0]["schema"] = "0" * 16
    path.write_text(json.dumps(manifest))
    assert "union_by_name" in view_of_pages()

    for entry in manifest["files"]:
        del entry["schema"]
    path.write_text(json.dumps(manifest))
    assert "union_by_name" in view_of_pages()
