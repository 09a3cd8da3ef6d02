"""The lake's steps as the materialization sends them through ``chrono_lake`` (lake/channel.py),
driven directly with requests a broken or hostile caller could send: files reported at the
commit that the plan never made, reported twice, or with rows they do not hold. Each is
refused with a message naming the file, and the lake keeps its committed snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chrono_analytics.lake import channel
from chrono_analytics.lake.reader import Lake

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


def write_run(root: Path, years: dict[int, list[int]]) -> list[dict[str, Any]]:
    """A full refresh up to its commit: begin, schema, plan, then each planned file written
    with pyarrow (as DuckDB's COPY would) and the first reported; returns the files as the
    commit lists them."""
    call(root, "begin", invocation_id="test", full_refresh=True)
    call(root, "schema", columns=[{"name": "page_id", "type": "BIGINT"}])
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
