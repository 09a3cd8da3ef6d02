"""Configuration by environment variables, each with a documented default.

Every variable the project reads is listed here (and in the README):

CHRONO_HOME          state folder (embedded PostgreSQL data, logs); default ``<project>/.chrono``
CHRONO_PG_DSN        libpq DSN the warehouse reads the source PostgreSQL with: a role that can
                     only read (README, "The source's read-only role"); when unset, the embedded
                     server as its role ``chrono_reader``. A password in it is kept out of
                     everything dbt prints (``chrono_analytics.source_attach``)
CHRONO_PG_ADMIN_DSN  libpq DSN of a role that may create tables, for generating synthetic data
                     (``db seed``, ``demo``) on the server of CHRONO_PG_DSN; only with it. The
                     embedded server's admin is its superuser ``postgres``. dbt never uses it
CHRONO_PG_PORT       TCP port of the embedded server on 127.0.0.1; default 55432
CHRONO_PG_DATABASE   database name on the embedded server; default ``chrono_scraper``
CHRONO_LAKE_ROOT     root folder of the Parquet lake; default ``<project>/lake``
CHRONO_DUCKDB_PATH   DuckDB file holding the views over the lake;
                     default ``<project>/chrono_analytics.duckdb``

``profiles.yml`` repeats the defaults of the last two so that a plain ``dbt build`` run from
the project root works; the project's dbt plugin attaches the source with ``pg_dsn`` below.
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


def project_root() -> Path:
    """The dbt project folder: the nearest parent of the cwd holding dbt_project.yml."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    return here


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_port: int
    pg_database: str
    explicit_dsn: str | None
    explicit_admin_dsn: str | None
    lake_root: Path
    duckdb_path: Path

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


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserFacingError(f"{name}={raw!r} is not an integer port number") from None


def load_settings() -> Settings:
    root = project_root()
    explicit_dsn = os.environ.get("CHRONO_PG_DSN") or None
    explicit_admin_dsn = os.environ.get("CHRONO_PG_ADMIN_DSN") or None
    if explicit_admin_dsn is not None and explicit_dsn is None:
        raise UserFacingError(
            "CHRONO_PG_ADMIN_DSN is set but CHRONO_PG_DSN is not: set both to use another "
            "server, or neither for the embedded one"
        )
    return Settings(
        home=Path(os.environ.get("CHRONO_HOME") or root / ".chrono").resolve(),
        pg_port=_int_env("CHRONO_PG_PORT", DEFAULT_PG_PORT),
        pg_database=os.environ.get("CHRONO_PG_DATABASE") or DEFAULT_PG_DATABASE,
        explicit_dsn=explicit_dsn,
        explicit_admin_dsn=explicit_admin_dsn,
        lake_root=Path(os.environ.get("CHRONO_LAKE_ROOT") or root / "lake").resolve(),
        duckdb_path=Path(
            os.environ.get("CHRONO_DUCKDB_PATH") or root / "chrono_analytics.duckdb"
        ).resolve(),
    )
