"""Subcommand groups that live in their own subpackages (events, ...)."""

from __future__ import annotations

import argparse
import importlib


def register_all(commands: argparse._SubParsersAction) -> None:
    for module_name in ("chrono_analytics.events.cli",):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        module.register(commands)
