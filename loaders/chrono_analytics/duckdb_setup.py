"""Install DuckDB's postgres extension from its PyPI wheel (no download from DuckDB's servers)."""

from __future__ import annotations

import duckdb
import duckdb_extensions

from chrono_analytics.errors import UserFacingError


def install_postgres_extension(conn: duckdb.DuckDBPyConnection | None = None) -> None:
    """Install (idempotently) and load postgres_scanner into ``conn`` (default: a new one)."""
    own = conn is None
    target = duckdb.connect() if conn is None else conn
    try:
        installed = target.execute(
            "select installed from duckdb_extensions() where extension_name = 'postgres_scanner'"
        ).fetchone()
        if not (installed and installed[0]):
            duckdb_extensions.import_extension("postgres_scanner", con=target)
        target.execute("load postgres_scanner")
    except (ModuleNotFoundError, duckdb.Error) as exc:
        raise UserFacingError(
            f"DuckDB's postgres extension could not be installed from the wheel ({exc}); "
            "reinstall with 'make setup'"
        ) from None
    finally:
        if own:
            target.close()
