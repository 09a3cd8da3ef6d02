"""A dbt command server for the tests (warehouse_helpers.Warehouse.dbt): a process that imports
dbt once, then forks one child per command, which runs the `dbt` console script's entry point
exactly as a new process would (its own pid, environment, working folder, argv and output
files) and exits with dbt's status.

Importing dbt-core and dbt-duckdb takes about 2.5 s of the 3.5 s of a small `dbt run` on this
machine; a forked child starts with them imported. Nothing else is imported here: the
project's plugin, the DuckDB connection and every setting are made in the child, from its
environment, as in a new process. The server holds no thread (fork copies only the caller).

Protocol: one JSON object per line on stdin, {"args", "env", "cwd", "stdout", "stderr"} (the
last two: files the child writes its output to); one line back per command on stdout,
{"returncode": n}, n as subprocess reports it (negative: killed by that signal).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import dbt.adapters.duckdb  # noqa: F401 - imported before the fork, like dbt.cli.main
from dbt.cli.main import cli


def run_child(request: dict[str, Any]) -> None:
    """In the forked child: become the command's process, run dbt, exit with its status."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(path, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        sys.argv = ["dbt", *request["args"]]
        try:
            cli()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # reported on the child's stderr, status 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
