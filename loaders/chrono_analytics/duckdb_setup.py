"""Install DuckDB's extensions from their PyPI wheels (no download from DuckDB's servers):
postgres_scanner (the source) and httpfs (a lake on S3)."""

from __future__ import annotations

import duckdb
import duckdb_extensions

from chrono_analytics.errors import UserFacingError


def install_extension(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Install (idempotently, from the wheel ``duckdb-extension-<name>``) and load `name`."""
    try:
        installed = conn.execute(
            "select installed from duckdb_extensions() where extension_name = ?", [name]
        ).fetchone()
        if not (installed and installed[0]):
            duckdb_extensions.import_extension(name, con=conn)
        conn.execute(f"load {name}")
    except (ModuleNotFoundError, duckdb.Error) as exc:
        raise UserFacingError(
            f"DuckDB's {name} extension could not be installed from the wheel ({exc}); "
            "reinstall with 'make setup'"
        ) from None


def install_postgres_extension(conn: duckdb.DuckDBPyConnection | None = None) -> None:
    """Install (idempotently) and load postgres_scanner into ``conn`` (default: a new one)."""
    own = conn is None
    target = duckdb.connect() if conn is None else conn
    try:
        install_extension(target, "postgres_scanner")
    finally:
        if own:
            target.close()
