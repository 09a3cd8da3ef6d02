"""The write lock of a model's lake: one writing process at a time, on any machine.

A lake in a local folder: a flock on ``<location>/_chrono/write.lock``. The kernel releases it
when the process dies, so a crashed writer never leaves a stale lock. The holder writes who it
is (pid, host, what it runs) into the file, so a waiting writer can say who holds the lake.

A lake on object storage (``s3://``) is written from several machines, which share no
filesystem, and an object store has no lock of its own that a crashed writer gives back
(a lock object would stay after a kill -9 and need a lease and a clock). The lock there is a
session-level PostgreSQL advisory lock on the source server (``pg_try_advisory_lock``), keyed
by a hash of the model's location (lake root + mart). The source database is the one service
that every writer already reaches (dbt reads it in the same run), it grants the lock to one
session at a time across all machines, and it releases it when the holder's session ends: a
killed writer's connection is closed by its kernel at once; a writer whose machine vanished
is dropped after the TCP keepalive (set to about 30 s on the lock's session). The session's
``application_name`` says who holds it (pid, host, what), read back from ``pg_stat_activity``.
Any role may take an advisory lock: the warehouse's read-only role is enough. Before a commit
publishes its snapshot, ``check_held`` asks the server that the lock is still this session's.

Within one process the lock is held per location, whatever the invocation: a dbt run that
failed between taking and releasing it (dbt raised out of the materialization) leaves it held,
and the next run in the same process (the sync loop) takes it over; ``release_all`` (dbt's
on-run-end) lets it go.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import psycopg2

from chrono_analytics.lake import s3
from chrono_analytics.lake.snapshot import LakeError
from chrono_analytics.lake.store import Store

LOCK_PATH = "_chrono/write.lock"
APPLICATION_PREFIX = "chrono-lake "
POLL_SECONDS = 0.05


@dataclass
class _Held:
    owner: str
    fd: int | None = None  # a local flock
    session: Any = None  # a PostgreSQL connection holding the advisory lock
    key: int = 0

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        if self.session is not None:
            with contextlib.suppress(psycopg2.Error), self.session.cursor() as cur:
                cur.execute("select pg_advisory_unlock(%s)", (self.key,))
            with contextlib.suppress(psycopg2.Error):
                self.session.close()


_HELD: dict[str, _Held] = {}


def _lock_file(store: Store) -> str:
    uri = store.uri(LOCK_PATH)
    if "://" in uri:
        raise LakeError(f"the write lock of {store.location} needs a local folder")
    return uri


def advisory_key(location: str) -> int:
    """The advisory lock key of a model's location: 64 bits of its SHA-256, signed (bigint)."""
    digest = hashlib.sha256(f"chrono-lake:{location.rstrip('/')}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _split_key(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def _connect_source() -> Any:
    """A new session on the source server, as the warehouse's role (CHRONO_PG_DSN)."""
    from chrono_analytics.config import load_settings
    from chrono_analytics.source_attach import SourceDsn, failure_reason

    settings = load_settings()
    source = SourceDsn.parse(settings.pg_dsn)
    try:
        conn = psycopg2.connect(
            settings.pg_dsn,
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
    except psycopg2.Error as exc:
        reason = source.redact(failure_reason(str(exc)))
        raise LakeError(
            f"the write lock of a lake on object storage is held on the source PostgreSQL "
            f"at {source.server}, which did not answer ({reason})"
        ) from None
    conn.autocommit = True
    # the server drops the session (and so the lock) of a writer whose machine vanished
    # within about 30 s
    with conn.cursor() as cur, contextlib.suppress(psycopg2.Error):
        cur.execute(
            "set tcp_keepalives_idle = 10; set tcp_keepalives_interval = 5; "
            "set tcp_keepalives_count = 3"
        )
    return conn


def _describe(what: str) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "what": what,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _remote_holder(store: Store, session: Any = None) -> str:
    classid, objid = _split_key(advisory_key(store.location))
    own = session is None
    try:
        conn = _connect_source() if own else session
    except LakeError:
        return "another process"
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select a.application_name, a.client_addr::text, a.backend_start "
                "from pg_locks as l join pg_stat_activity as a on a.pid = l.pid "
                "where l.locktype = 'advisory' and l.granted and l.classid = %s "
                "and l.objid = %s and l.objsubid = 1",
                (classid, objid),
            )
            row = cur.fetchone()
    except psycopg2.Error:
        return "another process"
    finally:
        if own:
            conn.close()
    if row is None:
        return "another process"
    name, client, since = row
    if name and name.startswith(APPLICATION_PREFIX):
        return f"{name[len(APPLICATION_PREFIX) :]} (session from {client or 'local'})"
    return f"a session from {client or 'local'} since {since}"


def holder(store: Store) -> str:
    """Who holds (or last held) the lock, as the holder described itself."""
    if s3.is_remote(store.location):
        return _remote_holder(store)
    text = store.read_text(LOCK_PATH) or ""
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']} ({info['what']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _timed_out(store: Store, timeout: float, who: str) -> LakeError:
    return LakeError(
        f"{store.location} is being written by {who}; waited {timeout:.0f} s for it. "
        "Run again when it has finished."
    )


def _acquire_local(store: Store, owner: str, what: str, timeout: float) -> _Held:
    path = _lock_file(store)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _timed_out(store, timeout, holder(store)) from None
            time.sleep(POLL_SECONDS)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_describe(what)).encode(), 0)
    return _Held(owner, fd=fd)


def _acquire_remote(store: Store, owner: str, what: str, timeout: float) -> _Held:
    key = advisory_key(store.location)
    info = _describe(what)
    name = f"{APPLICATION_PREFIX}pid {info['pid']} on {info['host']} ({what})"
    conn = _connect_source()
    try:
        with conn.cursor() as cur:
            # application_name is at most 63 bytes: the pid and host come first
            cur.execute("select set_config('application_name', %s, false)", (name[:63],))
            deadline = time.monotonic() + timeout
            while True:
                cur.execute("select pg_try_advisory_lock(%s)", (key,))
                row = cur.fetchone()
                if row is not None and row[0]:
                    return _Held(owner, session=conn, key=key)
                if time.monotonic() >= deadline:
                    raise _timed_out(store, timeout, _remote_holder(store, conn))
                time.sleep(max(POLL_SECONDS, 0.2))
    except psycopg2.Error as exc:
        conn.close()
        raise LakeError(
            f"the session taking the write lock of {store.location} on the source PostgreSQL "
            f"failed ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}); "
            "nothing was written, run again"
        ) from None
    except BaseException:
        conn.close()
        raise


def acquire(store: Store, owner: str, what: str, timeout: float) -> None:
    """Hold the model's write lock for `owner` (an invocation id), waiting up to `timeout`
    seconds for another process to release it."""
    key = store.location
    held = _HELD.get(key)
    if held is not None:
        held.owner = owner
        return
    if s3.is_remote(store.location):
        _HELD[key] = _acquire_remote(store, owner, what, timeout)
    else:
        _HELD[key] = _acquire_local(store, owner, what, timeout)


def check_held(store: Store) -> None:
    """Raise unless this process still holds the model's lock (for a lake on object storage:
    the server still has this session, and the session the advisory lock)."""
    held = _HELD.get(store.location)
    if held is None:
        raise LakeError(f"the write lock of {store.location} is not held by this process")
    if held.session is None:
        return
    classid, objid = _split_key(held.key)
    try:
        with held.session.cursor() as cur:
            cur.execute(
                "select count(*) from pg_locks where pid = pg_backend_pid() and "
                "locktype = 'advisory' and granted and classid = %s and objid = %s "
                "and objsubid = 1",
                (classid, objid),
            )
            row = cur.fetchone()
    except psycopg2.Error:
        row = None
    if row is None or not row[0]:
        raise LakeError(
            f"the write lock of {store.location} was lost (the session holding it on the "
            "source PostgreSQL ended); nothing was committed, run again"
        )


def is_held(store: Store) -> bool:
    return store.location in _HELD


def release(store: Store) -> None:
    held = _HELD.pop(store.location, None)
    if held is not None:
        held.release()


def release_all() -> int:
    """Release every lake lock this process holds; how many there were."""
    count = len(_HELD)
    for key in list(_HELD):
        _HELD.pop(key).release()
    return count
