"""Configuration by environment variables, each with a documented default.

Every environment variable the project reads is listed here (and in the README's
configuration table); ``test_cli.py`` fails when code reads a ``CHRONO_*`` variable this list
does not name. Here an empty value counts as unset. The paths below are resolved here, once: a
relative one is taken relative to the project root (the folder holding ``dbt_project.yml``,
where dbt runs), so code that asks this module and dbt find the same files from any working
directory.

CHRONO_PG_DSN               libpq DSN the warehouse reads the source PostgreSQL with: a role that
                            can only read (README, "The source's read-only role"); default: the
                            embedded server as its role ``chrono_reader``. A password in it is
                            kept out of everything dbt prints (``source_attach``)
CHRONO_PG_ADMIN_DSN         libpq DSN of a role that may create tables, for generating synthetic
                            data (``db seed``, ``demo``) on the server of CHRONO_PG_DSN; only with
                            it. The embedded server's admin is its superuser ``postgres``; dbt
                            never uses it
CHRONO_PG_PORT              TCP port of the embedded server on 127.0.0.1; default 55432
CHRONO_PG_DATABASE          database name on the embedded server; default ``chrono_scraper``
CHRONO_HOME                 state folder of the embedded server (``pgdata/``, ``postgres.log``);
                            default ``<project>/.chrono``
CHRONO_LAKE_ROOT            root folder of the Parquet lake, or ``s3://bucket/prefix`` for a lake
                            on S3-compatible storage (credentials from AWS_ENDPOINT_URL,
                            AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: lake/s3.py);
                            default ``<project>/lake``
CHRONO_DUCKDB_PATH          dbt's DuckDB file (views over the lake, reporting tables);
                            default ``<project>/chrono_analytics.duckdb``
CHRONO_DUCKDB_MEMORY_LIMIT  DuckDB's memory budget in dbt runs (read by ``profiles.yml`` only);
                            default ``3GB``
CHRONO_EVENTS_ROOT          root folder of the raw application events;
                            default ``<CHRONO_LAKE_ROOT>/raw/events``
CHRONO_VERBOSE              when set (and not ``0``), ``chrono-analytics`` prints how long the
                            command took; default unset
CHRONO_LAKE_RETENTION_SECONDS  how long files a newer snapshot superseded stay for readers
                            (and orphans of crashed runs wait) before a vacuum deletes them;
                            default 600
CHRONO_LAKE_LOCK_TIMEOUT    seconds a run waits for another process writing the same mart before
                            it fails; default 600
CHRONO_LAKE_FEED_LIMIT      the most values one change-feed entry of a commit records; past it
                            the entry is left out (its readers recompute everything); default
                            50000
CHRONO_LAKE_MAX_FILE_ROWS   the most rows one data file of a mart holds (a larger partition
                            is split into files of consecutive ranges of its order; a run
                            rewrites only the files holding its changes, so its memory stays
                            bounded); default 250000
CHRONO_LAKE_CRASH_AT        test hook of ``lake/writer.py``: SIGKILL at a named point of a run;
                            default unset (never set it outside tests)
CHRONO_LAKE_COMMIT_DELAY_MS test hook of ``lake/writer.py``: sleep before publishing a snapshot;
                            default unset (never set it outside tests)

``make`` also reads ``PAGES`` (pages ``make demo`` generates; default 100000) and ``PYTHON``
(the interpreter that creates ``.venv``; default ``python3``) from the environment.

dbt reads the variables itself: ``profiles.yml`` (DSN, port, database, DuckDB file, memory
limit, lake root) and ``models/staging/events/_events__sources.yml`` (events root) repeat the
defaults above; ``test_cli.py`` checks that they agree with this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2.extensions import parse_dsn

from chrono_analytics.errors import UserFacingError

DEFAULT_PG_PORT = 55432
DEFAULT_PG_DATABASE = "chrono_scraper"
# The embedded server's roles: the warehouse reads as READER_ROLE (SELECT on the allowlisted
# columns only, see chrono_analytics.reader_role); data generation and tests write as ADMIN_ROLE.
READER_ROLE = "chrono_reader"
ADMIN_ROLE = "postgres"
DEFAULT_HOME = ".chrono"
DEFAULT_LAKE_ROOT = "lake"
DEFAULT_DUCKDB_PATH = "chrono_analytics.duckdb"
DEFAULT_DUCKDB_MEMORY_LIMIT = "3GB"
EVENTS_UNDER_LAKE = Path("raw", "events")


def project_root() -> Path:
    """The dbt project folder: the nearest parent of the cwd holding dbt_project.yml."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    return here


def _env(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    return os.environ.get(name) or None


def _path_env(name: str, default: str | Path) -> Path:
    """``$name`` (else ``default``) as an absolute path; relative means under the project."""
    return (project_root() / (_env(name) or default)).resolve()


def _int_env(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserFacingError(f"{name}={raw!r} is not an integer port number") from None


def home() -> Path:
    return _path_env("CHRONO_HOME", DEFAULT_HOME)


def lake_root() -> Path:
    """The lake root as a local folder (for an s3:// root, see lake_uri())."""
    return _path_env("CHRONO_LAKE_ROOT", DEFAULT_LAKE_ROOT)


def lake_uri() -> str:
    """The lake root as the lake's readers and writers take it: ``s3://bucket/prefix`` as
    given, else the absolute local folder (lake_root())."""
    raw = _env("CHRONO_LAKE_ROOT")
    if raw is not None and raw.startswith("s3://"):
        return raw.rstrip("/")
    return str(lake_root())


def duckdb_path() -> Path:
    path = _path_env("CHRONO_DUCKDB_PATH", DEFAULT_DUCKDB_PATH)
    check_duckdb_file_name(path)
    return path


# DuckDB names the database of a file after its name up to the first dot, except that main,
# system and temp (its own catalogs) become main_db, system_db and temp_db; dbt-duckdb names
# it after the file, so every statement dbt sends fails with 'Catalog "main" does not exist!'.
DUCKDB_RESERVED_FILE_NAMES = ("main", "system", "temp")


def check_duckdb_file_name(path: str | Path) -> None:
    """Refuse a warehouse file that DuckDB would rename (see DUCKDB_RESERVED_FILE_NAMES)."""
    name = Path(path).name.lstrip(".").split(".")[0]  # as both DuckDB and dbt-duckdb read it
    if name in DUCKDB_RESERVED_FILE_NAMES:
        raise UserFacingError(
            f"CHRONO_DUCKDB_PATH={str(path)!r}: DuckDB calls the database in a file named "
            f"{name}.* {name + '_db'!r}, and dbt-duckdb then finds no catalog {name!r}; "
            f"give the file another name (the default is {DEFAULT_DUCKDB_PATH})"
        )


def events_root() -> Path:
    """``$CHRONO_EVENTS_ROOT``, else ``<lake root>/raw/events`` (as dbt's events source)."""
    return _path_env("CHRONO_EVENTS_ROOT", lake_root() / EVENTS_UNDER_LAKE)


def verbose() -> bool:
    return (_env("CHRONO_VERBOSE") or "0") != "0"


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_port: int
    pg_database: str
    explicit_dsn: str | None
    explicit_admin_dsn: str | None
    lake_root: Path
    duckdb_path: Path
    events_root: Path

    @property
    def uses_embedded_server(self) -> bool:
        return self.explicit_dsn is None

    @property
    def pg_dsn(self) -> str:
        """The warehouse's DSN (read-only role): CHRONO_PG_DSN, or the embedded server's."""
        if self.explicit_dsn is not None:
            return self.explicit_dsn
        return embedded_dsn(self.pg_port, self.pg_database)

    @property
    def pg_admin_dsn(self) -> str:
        """The DSN that generates data: CHRONO_PG_ADMIN_DSN, or the embedded server's admin."""
        if self.explicit_admin_dsn is not None:
            return self.explicit_admin_dsn
        if self.explicit_dsn is not None:
            raise UserFacingError(
                "CHRONO_PG_DSN is the warehouse's read-only role; to generate data on that "
                "server, set CHRONO_PG_ADMIN_DSN to a role that may create tables"
            )
        return embedded_admin_dsn(self.pg_port, self.pg_database)

    @property
    def reader_role(self) -> str:
        """The role the warehouse reads as: the user of CHRONO_PG_DSN, or READER_ROLE."""
        if self.explicit_dsn is None:
            return READER_ROLE
        user = dsn_user(self.explicit_dsn)
        if user is None:
            raise UserFacingError("CHRONO_PG_DSN names no user: add user=<the read-only role>")
        return user

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"


def embedded_dsn(port: int, database: str = DEFAULT_PG_DATABASE) -> str:
    """The warehouse's DSN on the embedded server (trust authentication on 127.0.0.1)."""
    return f"host=127.0.0.1 port={port} dbname={database} user={READER_ROLE}"


def embedded_admin_dsn(port: int, database: str = DEFAULT_PG_DATABASE) -> str:
    """The admin's DSN on the embedded server: creates the schema, generates the data."""
    return f"host=127.0.0.1 port={port} dbname={database} user={ADMIN_ROLE}"


def dsn_user(dsn: str) -> str | None:
    """The user a libpq DSN (key=value or URI) names, if any."""
    try:
        return parse_dsn(dsn).get("user") or None
    except psycopg2.ProgrammingError:
        raise UserFacingError("a PostgreSQL DSN could not be parsed (check its quoting)") from None


def load_settings() -> Settings:
    """Every setting, read from the environment now."""
    explicit_dsn = _env("CHRONO_PG_DSN")
    explicit_admin_dsn = _env("CHRONO_PG_ADMIN_DSN")
    if explicit_admin_dsn is not None and explicit_dsn is None:
        raise UserFacingError(
            "CHRONO_PG_ADMIN_DSN is set but CHRONO_PG_DSN is not: set both to use another "
            "server, or neither for the embedded one"
        )
    return Settings(
        home=home(),
        pg_port=_int_env("CHRONO_PG_PORT", DEFAULT_PG_PORT),
        pg_database=_env("CHRONO_PG_DATABASE") or DEFAULT_PG_DATABASE,
        explicit_dsn=explicit_dsn,
        explicit_admin_dsn=explicit_admin_dsn,
        lake_root=lake_root(),
        duckdb_path=duckdb_path(),
        events_root=events_root(),
    )
