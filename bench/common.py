"""Shared set-up for the benchmarks: a store with Chongqing's divisions, the catalog and a
generated term of problems."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loaders.catalog import load_default_catalog  # noqa: E402
from loaders.divisions import DEFAULT_DIVISIONS, load_divisions  # noqa: E402
from loaders.scenario import generate_scenario  # noqa: E402


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def chongqing_scenario(store, out: Path, seed: int = 2025):
    load_divisions(store, DEFAULT_DIVISIONS, show_progress=False)
    load_default_catalog(store)
    scenario = generate_scenario(store, province="50", seed=seed)
    return scenario, scenario.write(out)


def commit_tree(revision: str, into: Path) -> Path:
    """The files of commit ``revision`` written out under ``into``: another commit's code, for a
    benchmark that runs it and this tree's in turns (``--against``)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def in_turns(revision: str, pairs: int, run: Callable[[Path], dict]) -> dict[str, list[dict]]:
    """``run`` over the files of commit ``revision`` and over this tree, in turns (that commit
    first in each pair), so that the machine's drift falls on both alike."""
    with tempfile.TemporaryDirectory() as tmp:
        other = commit_tree(revision, Path(tmp) / "other")
        turns: dict[str, list[dict]] = {"this": [], revision: []}
        for _ in range(pairs):
            turns[revision].append(run(other))
            turns["this"].append(run(ROOT))
    return turns
