"""dbt-duckdb plugin of the project, loaded through ``profiles.yml`` (``plugins:``).

``configure_connection`` runs on every new DuckDB connection dbt opens:
- it installs and loads the postgres extension from its PyPI wheel and attaches the source
  under the config's ``source_alias`` (``chrono_analytics.source_attach``: no password in the
  ATTACH, a read-only role, one-line errors);
- it registers ``chrono_lake(request varchar) -> varchar``, the channel through which the
  ``incremental_parquet`` materialization asks the lake's Python side to lock, plan and
  commit (``chrono_analytics.lake.channel``);
- when the lake is on S3 (``CHRONO_LAKE_ROOT=s3://...``), it loads httpfs from its wheel and
  gives DuckDB the bucket's credentials from the AWS_* variables as a temporary secret
  (``chrono_analytics.lake.s3``), so the materialization's COPY writes the data files there.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from chrono_analytics.config import lake_uri
from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.lake import channel, s3
from chrono_analytics.source_attach import attach_configured_source


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        install_postgres_extension(conn)
        conn.create_function("chrono_lake", channel.handle, [VARCHAR], VARCHAR, side_effects=True)
        if s3.is_remote(lake_uri()):
            # a LakeError (missing credentials) is a RuntimeError: dbt reports it as a
            # connection failure, in one line
            s3.configure_duckdb(conn)
        attach_configured_source(conn, self.config)
