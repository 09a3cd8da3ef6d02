"""dbt-duckdb plugin of the project, loaded through ``profiles.yml`` (``plugins:``).

``configure_connection`` runs on every new DuckDB connection before ``attach:``, so the postgres
extension is installed from its PyPI wheel and loaded before the source is attached.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from chrono_analytics.duckdb_setup import install_postgres_extension


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        install_postgres_extension(conn)
