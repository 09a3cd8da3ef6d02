"""Application events: capture (``EventWriter``), ingest JSON Lines, compact Parquet files.

The contract, its one Arrow schema and the validation rules: ``contract.py``. Durability
and the loss bound: ``writer.py`` and ``spool.py``. Compaction and its crash story:
``compaction.py``.
"""

from chrono_analytics.events.compaction import CompactionReport, compact
from chrono_analytics.events.contract import (
    EVENT_SCHEMA,
    EVENT_TYPES,
    EVENTS_GLOB,
    FILE_SCHEMA,
    MAX_EVENT_DATA_BYTES,
    SEVERITIES,
    Event,
    EventContext,
    EventType,
    EventValidationError,
    Severity,
    default_events_root,
    read_sql,
    validate_event,
)
from chrono_analytics.events.demo import generate_demo_events
from chrono_analytics.events.ingest import IngestReport, run_ingest
from chrono_analytics.events.writer import EventWriter, FlushResult, WriterClosedError

__all__ = [
    "EVENTS_GLOB",
    "EVENT_SCHEMA",
    "EVENT_TYPES",
    "FILE_SCHEMA",
    "MAX_EVENT_DATA_BYTES",
    "SEVERITIES",
    "CompactionReport",
    "Event",
    "EventContext",
    "EventType",
    "EventValidationError",
    "EventWriter",
    "FlushResult",
    "IngestReport",
    "Severity",
    "WriterClosedError",
    "compact",
    "default_events_root",
    "generate_demo_events",
    "read_sql",
    "run_ingest",
    "validate_event",
]
