"""``chrono-analytics serve``: the analytics API on uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

from chrono_analytics.errors import UserFacingError


def build_app(backend: str) -> Any:
    from chrono_analytics.api.app import create_app
    from chrono_analytics.api.service import AnalyticsService, make_backend
    from chrono_analytics.config import load_settings

    settings = load_settings()
    service = AnalyticsService(make_backend(backend, settings), settings)
    return create_app(service, settings.lake_root)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if not 1 <= args.port <= 65535:
        raise UserFacingError(f"--port must be 1 .. 65535, got {args.port}")
    app = build_app(args.backend)
    print(
        f"analytics API ({args.backend} backend) on http://{args.host}:{args.port} "
        f"(docs: http://{args.host}:{args.port}/docs)",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the analytics REST API (FastAPI on uvicorn; docs at /docs)",
        description="Serve /api/v1/analytics/... and /api/v1/health, read from the lake's "
        "reporting marts (--backend lake) or computed from the source PostgreSQL as the "
        "read-only role (--backend postgres, the rollback path).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, metavar="N", help="port to listen on")
    serve.add_argument(
        "--backend", choices=("lake", "postgres"), default="lake", help="where answers come from"
    )
    serve.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="warning",
        help="uvicorn's log level",
    )
    serve.set_defaults(handler=cmd_serve)
