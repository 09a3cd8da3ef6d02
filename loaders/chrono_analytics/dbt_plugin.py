"""dbt-duckdb plugin of the project, loaded through ``profiles.yml`` (``plugins:``).

``configure_connection`` runs on every new DuckDB connection dbt opens:
- it installs and loads the postgres extension from its PyPI wheel and attaches the source
  under the config's ``source_alias`` (``chrono_analytics.source_attach``: no password in the
  ATTACH, a read-only role, one-line errors);
- it registers ``chrono_lake(request varchar) -> varchar``, the channel through which the
  ``incremental_parquet`` materialization asks the lake's Python side to lock, plan and
  commit (``chrono_analytics.lake.channel``).
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.lake import channel
from chrono_analytics.source_attach import attach_configured_source


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        install_postgres_extension(conn)
        conn.create_function("chrono_lake", channel.handle, [VARCHAR], VARCHAR, side_effects=True)
        attach_configured_source(conn, self.config)
