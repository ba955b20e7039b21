"""Benchmarks that run the paths users run (see bench/README.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def this_checkout_first(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with this checkout first on the import path of the commands a bench starts.

    They run in a temporary folder, where `python -m marketplace.cli` imports the installed (editable) package:
    a bench run from a git worktree of another revision measured the main checkout's tool, not its own.
    """
    earlier = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": str(CHECKOUT) + (os.pathsep + earlier if earlier else "")}
