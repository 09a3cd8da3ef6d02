"""Configuration by environment variables, each with a documented default.

Every variable the project reads is listed here (and in the README):

CHRONO_HOME          state folder (embedded PostgreSQL data, logs); default ``<project>/.chrono``
CHRONO_PG_DSN        libpq DSN of the source PostgreSQL; when unset, the embedded server is used
CHRONO_PG_PORT       TCP port of the embedded server on 127.0.0.1; default 55432
CHRONO_PG_DATABASE   database name on the embedded server; default ``chrono_scraper``
CHRONO_LAKE_ROOT     root folder of the Parquet lake; default ``<project>/lake``
CHRONO_EVENTS_ROOT   root folder of the raw events (written by the event loaders, read by
                     the ``events`` source); default ``<lake root>/raw/events``
CHRONO_DUCKDB_PATH   DuckDB file holding the views over the lake;
                     default ``<project>/chrono_analytics.duckdb``

An empty value counts as unset. A relative path is relative to ``<project>``, the dbt
project folder (the nearest parent of the working directory holding dbt_project.yml, else
the working directory): dbt resolves the same values from the project folder, since it
runs there, so Python and dbt name the same folders from any working directory.
``profiles.yml`` and ``models/staging/events/_events__sources.yml`` repeat the defaults so
that a plain ``dbt build`` works; ``loaders/tests/test_events_models.py`` checks that dbt
and ``events_root()`` agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chrono_analytics.errors import UserFacingError

DEFAULT_PG_PORT = 55432
DEFAULT_PG_DATABASE = "chrono_scraper"
DEFAULT_PG_USER = "postgres"


def project_root() -> Path:
    """The dbt project folder: the nearest parent of the cwd holding dbt_project.yml."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    return here


def _path_env(name: str, default: str, project: Path) -> Path:
    """``$name`` (unset or empty: ``default``), relative to ``project`` when relative."""
    return (project / (os.environ.get(name) or default)).resolve()


def lake_root(project: Path | None = None) -> Path:
    """``$CHRONO_LAKE_ROOT``, else ``<project>/lake``."""
    return _path_env("CHRONO_LAKE_ROOT", "lake", project or project_root())


def events_root(project: Path | None = None) -> Path:
    """``$CHRONO_EVENTS_ROOT``, else ``<lake root>/raw/events``: where the event loaders
    write and the dbt source ``events`` reads (the environment is read at each call)."""
    folder = project or project_root()
    if os.environ.get("CHRONO_EVENTS_ROOT"):
        return _path_env("CHRONO_EVENTS_ROOT", "", folder)
    return lake_root(folder) / "raw" / "events"


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_port: int
    pg_database: str
    explicit_dsn: str | None
    lake_root: Path
    events_root: Path
    duckdb_path: Path

    @property
    def uses_embedded_server(self) -> bool:
        return self.explicit_dsn is None

    @property
    def pg_dsn(self) -> str:
        """The DSN every component uses: CHRONO_PG_DSN, or the embedded server's."""
        if self.explicit_dsn is not None:
            return self.explicit_dsn
        return embedded_dsn(self.pg_port, self.pg_database)

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"


def embedded_dsn(port: int, database: str = DEFAULT_PG_DATABASE) -> str:
    return f"host=127.0.0.1 port={port} dbname={database} user={DEFAULT_PG_USER}"


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
    return Settings(
        home=_path_env("CHRONO_HOME", ".chrono", root),
        pg_port=_int_env("CHRONO_PG_PORT", DEFAULT_PG_PORT),
        pg_database=os.environ.get("CHRONO_PG_DATABASE") or DEFAULT_PG_DATABASE,
        explicit_dsn=os.environ.get("CHRONO_PG_DSN") or None,
        lake_root=lake_root(root),
        events_root=events_root(root),
        duckdb_path=_path_env("CHRONO_DUCKDB_PATH", "chrono_analytics.duckdb", root),
    )
