"""The write lock of a model's lake: one writing process at a time.

A local flock on ``<location>/_chrono/write.lock``: the kernel releases it when the process
dies, so a crashed writer never leaves a stale lock. The holder writes who it is (pid, host,
what it runs) into the file, so a waiting writer can say who holds the lake.

Within one process the lock is held per location, whatever the invocation: a dbt run that
failed between taking and releasing it (dbt raised out of the materialization) leaves it held,
and the next run in the same process (the sync loop) takes it over; ``release_all`` (dbt's
on-run-end) lets it go.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass

from chrono_analytics.lake.snapshot import LakeError
from chrono_analytics.lake.store import Store

LOCK_PATH = "_chrono/write.lock"


@dataclass
class _Held:
    fd: int
    owner: str


_HELD: dict[str, _Held] = {}


def _lock_file(store: Store) -> str:
    uri = store.uri(LOCK_PATH)
    if "://" in uri:
        raise LakeError(f"the write lock of {store.location} needs a local folder")
    return uri


def holder(store: Store) -> str:
    """Who holds (or last held) the lock, as the holder described itself."""
    text = store.read_text(LOCK_PATH) or ""
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']} ({info['what']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def acquire(store: Store, owner: str, what: str, timeout: float) -> None:
    """Hold the model's write lock for `owner` (an invocation id), waiting up to `timeout`
    seconds for another process to release it."""
    key = store.location
    held = _HELD.get(key)
    if held is not None:
        held.owner = owner
        return
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
                raise LakeError(
                    f"{store.location} is being written by {holder(store)}; waited "
                    f"{timeout:.0f} s for it. Run again when it has finished."
                ) from None
            time.sleep(0.05)
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "what": what,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    _HELD[key] = _Held(fd, owner)


def is_held(store: Store) -> bool:
    return store.location in _HELD


def release(store: Store) -> None:
    held = _HELD.pop(store.location, None)
    if held is not None:
        fcntl.flock(held.fd, fcntl.LOCK_UN)
        os.close(held.fd)


def release_all() -> int:
    """Release every lake lock this process holds; how many there were."""
    count = len(_HELD)
    for key in list(_HELD):
        held = _HELD.pop(key)
        fcntl.flock(held.fd, fcntl.LOCK_UN)
        os.close(held.fd)
    return count
