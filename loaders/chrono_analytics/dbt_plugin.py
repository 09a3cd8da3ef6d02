"""dbt-duckdb plugin of the project, loaded through ``profiles.yml`` (``plugins:``).

``configure_connection`` runs on every new DuckDB connection: it installs the postgres extension
from its PyPI wheel and attaches the source under the config's ``source_alias`` (see
``chrono_analytics.source_attach``: no password in the ATTACH, a read-only role, one-line errors).

``store`` carries out the file operations of the ``incremental_parquet`` materialization
(lock, roll forward, stage, journal and swap, release; see ``chrono_analytics.lake``). The
materialization calls ``adapter.store_relation('chrono', this, [], location, 'parquet', request)``
with a request dict whose ``op`` names the operation.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig
from dbt.adapters.events.logging import AdapterLogger
from duckdb import DuckDBPyConnection

from chrono_analytics import lake
from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.source_attach import attach_configured_source

logger = AdapterLogger("chrono_lake")


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        install_postgres_extension(conn)
        attach_configured_source(conn, self.config)

    def store(self, target_config: TargetConfig) -> None:
        request = dict(target_config.config or {})
        if "op" not in request:
            raise lake.LakeError(
                "the chrono plugin stores only incremental_parquet lake operations "
                "(a request with 'op'); do not set plugin='chrono' on other models"
            )
        if "location" not in request and target_config.location is not None:
            request["location"] = target_config.location.path
        summary = lake.run_operation(request)
        logger.debug(f"{target_config.relation}: {summary}")
