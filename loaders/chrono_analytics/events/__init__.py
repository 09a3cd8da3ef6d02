"""Application events: capture (``EventWriter``), ingest JSON Lines, compact Parquet files.

The columns of the contract, defined once: ``schema.py``. The typed API (``Event``):
``api.py``. The validation rules and the event id: ``validation.py``. Where files live and
how to read them: ``layout.py``. Durability and the loss bound: ``writer.py`` and
``spool.py``; publishing files and in-flight files: ``files.py``. Compaction and its crash
story: ``compaction.py``. The events root (``CHRONO_EVENTS_ROOT``) is resolved by
``chrono_analytics.config.events_root``.
"""

from chrono_analytics.events.api import Event, EventContext, validate_event
from chrono_analytics.events.compaction import CompactionReport, compact
from chrono_analytics.events.demo import generate_demo_events
from chrono_analytics.events.ingest import IngestReport, run_ingest
from chrono_analytics.events.layout import EVENTS_GLOB, read_sql
from chrono_analytics.events.schema import (
    EVENT_SCHEMA,
    EVENT_TYPES,
    FILE_SCHEMA,
    MAX_EVENT_DATA_BYTES,
    SEVERITIES,
    EventType,
    Severity,
)
from chrono_analytics.events.validation import EventValidationError
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
    "generate_demo_events",
    "read_sql",
    "run_ingest",
    "validate_event",
]
