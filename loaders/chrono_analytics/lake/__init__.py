"""The Parquet lake: how marts are stored, committed and read.

Layout of one model's lake (``location``, e.g. ``lake/cdx_records``)::

    <location>/<p1>=<v1>[/<p2>=<v2>]/v<version>-<random>.parquet   immutable data files
    <location>/_chrono/snapshots/<version>.json                     one manifest per commit
    <location>/_chrono/write.lock                                   held while a run writes (local)

Data files are never changed or renamed once written. A partition folder holds one live file
(the one the current snapshot names) and, for a while, files of older snapshots. The partition
columns are stored inside the files too (with the model's types), so a reader that ignores
the folder names gets the same columns.

A *snapshot* (``_chrono/snapshots/<version>.json``) names every live file of the model with
its partition values and row count, the model's columns and types, the partition columns,
the watermark the next incremental run starts from, what the commit changed (the change feed
downstream models read), and the run's figures. Version N+1 is published by one atomic,
exclusive file creation (``os.link`` of a fully written and fsynced temporary file): the
commit. The current snapshot is the one with the greatest version.

A location ``s3://bucket/prefix/<model>`` is on S3-compatible storage (``store.S3Store``,
``s3.py``): the commit is one PUT of the whole manifest (atomic on S3; exclusive through the
write lock, which is a PostgreSQL advisory lock there, see lock.py), and DuckDB writes the data
files through httpfs.

A run (``writer``):

1. takes the model's write lock (other writers wait; one process at a time per model);
2. reads the current snapshot;
3. writes the new data files under new names in the partition folders (readers do not
   know them: no snapshot names them yet);
4. publishes snapshot N+1 (the commit);
5. deletes the files and snapshots no reader can still need (``vacuum``: superseded more
   than ``retention`` ago), and releases the lock.

What a crash (kill -9, power loss after fsync) leaves at each point:

* before step 4: the current snapshot is still N, and every file it names is intact; the new
  files are orphans that no snapshot names. The next run writes its own new files; vacuum
  deletes orphans once they are older than the retention time.
* after step 4: the commit is done; only the vacuum did not happen, and the next commit does
  it. Nothing to roll forward, no journal: the next run converges to exactly what an
  uninterrupted run would have produced.

Readers (``reader``) never take a lock and never see a half-written state: they read the
current snapshot, then exactly the files it names. Those files stay in place for at least
``retention`` seconds after a later snapshot supersedes them, so a query that started on
snapshot N finishes even while N+1, N+2 are committed. A plain folder reader (a glob over
``<location>/**/*.parquet``) does not know the snapshot: it sees the live files plus
superseded files not yet vacuumed (duplicates) and files of a commit in progress; give it the
snapshot's file list instead (``chrono-analytics lake files <mart>``).

Test hooks (environment variables, read at each step):

``CHRONO_LAKE_CRASH_AT=<point>``  the process sends itself SIGKILL at that point: one of
    ``CRASH_POINTS`` (writer.py).
``CHRONO_LAKE_COMMIT_DELAY_MS=<ms>``  sleep before publishing, so a test can watch a commit.
"""

from chrono_analytics.lake.snapshot import (
    Column,
    DataFile,
    LakeError,
    Snapshot,
    current_snapshot,
    list_versions,
    read_snapshot,
)
from chrono_analytics.lake.store import LocalStore, Store, open_store

__all__ = [
    "Column",
    "DataFile",
    "LakeError",
    "LocalStore",
    "Snapshot",
    "Store",
    "current_snapshot",
    "list_versions",
    "open_store",
    "read_snapshot",
]
