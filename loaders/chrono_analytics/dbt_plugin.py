"""dbt-duckdb plugin of the project, loaded through ``profiles.yml`` (``plugins:``).

``configure_connection`` runs on every new DuckDB connection dbt opens:
- it installs and loads the postgres extension from its PyPI wheel and attaches the source
  under the config's ``source_alias`` (``chrono_analytics.source_attach``: no password in the
  ATTACH, a read-only role, one-line errors). When the source cannot be reached, commands
  that may not need it go on without it (``COMMANDS_WITHOUT_SOURCE``) and
  ``chrono_source_problem()`` returns the one line saying why; the on-run-start hook
  ``require_source()`` stops a run whose selection reads the source with that line;
- it registers ``chrono_lake(request varchar) -> varchar``, the channel through which the
  ``incremental_parquet`` materialization asks the lake's Python side to lock, plan and
  commit (``chrono_analytics.lake.channel``), and ``chrono_word_count(text varchar) -> bigint``,
  the word count of the ``word_count`` macro (``chrono_analytics.text_measures``);
- when the lake is on S3 (``CHRONO_LAKE_ROOT=s3://...``), it loads httpfs from its wheel and
  gives DuckDB the bucket's credentials from the AWS_* variables as a temporary secret
  (``chrono_analytics.lake.s3``), so the materialization's COPY writes the data files there.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.events.logging import AdapterLogger
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from chrono_analytics import text_measures
from chrono_analytics.config import lake_uri
from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.lake import channel, s3
from chrono_analytics.source_attach import attach_configured_source

logger = AdapterLogger("chrono")


def dbt_command() -> str | None:
    """dbt's subcommand of this invocation ('build', 'generate', ...), None outside dbt."""
    try:
        from dbt.flags import get_flags

        which = getattr(get_flags(), "WHICH", None)
    except Exception:  # no flags set: not inside a dbt invocation
        return None
    return str(which) if which else None


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config
        self.source_problem: str | None = None
        self.warned = False

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        install_postgres_extension(conn)
        conn.create_function("chrono_lake", channel.handle, [VARCHAR], VARCHAR, side_effects=True)
        text_measures.register(conn)
        if s3.is_remote(lake_uri()):
            # a LakeError (missing credentials) is a RuntimeError: dbt reports it as a
            # connection failure, in one line
            s3.configure_duckdb(conn)
        command = dbt_command()
        self.source_problem = attach_configured_source(conn, self.config, command)
        conn.create_function("chrono_source_problem", self._problem, [], VARCHAR, side_effects=True)
        if self.source_problem and command in ("compile", "generate") and not self.warned:
            self.warned = True
            logger.warning(
                f"{self.source_problem}; going on without it (the docs show the source tables "
                "without their database column types)"
                if command == "generate"
                else f"{self.source_problem}; compiling without it"
            )

    def _problem(self) -> str | None:
        return self.source_problem
