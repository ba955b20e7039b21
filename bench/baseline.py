"""The search of another revision, run beside ours in the same benchmark run (`bench.search --baseline REV`).

A later change must not make searching slower than the code it replaced, and shared machines are too noisy
to compare figures of two runs. So the baseline revision is checked out into a temporary git worktree and
served by a worker process that builds its own index of the same synthetic catalog (bench/synthetic.py is
seeded) and times each search itself; the benchmark interleaves its queries with ours, query by query.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GIT = shutil.which("git") or "git"

_WORKER = r"""
import json, sys, time
import marketplace
from bench.synthetic import resources
from marketplace.catalog.index_store import build_index
from marketplace.catalog.search import CatalogIndex
try:  # the revision being compared may predate the split of catalog/search.py
    from marketplace.catalog.search_types import SearchRequest
except ImportError:
    from marketplace.catalog.search import SearchRequest
print(json.dumps({"ready": marketplace.__file__}), flush=True)
index = None
for line in sys.stdin:
    message = json.loads(line)
    if message["cmd"] == "build":
        if index is not None:
            index.close()
        build_index(__import__("pathlib").Path(message["path"]), list(resources(message["size"], seed=message["seed"])))
        index = CatalogIndex(__import__("pathlib").Path(message["path"]))
        index.open()
        print(json.dumps({"built": True}), flush=True)
    else:
        fields = message["fields"]
        fields = {key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()}
        start = time.perf_counter()
        result = index.search(SearchRequest(**fields))
        print(json.dumps({"ms": (time.perf_counter() - start) * 1000, "total": result.total}), flush=True)
"""


class BaselineSearch:
    """A worker process searching with the code of `revision`."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.folder = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
        self.tree = self.folder / "tree"
        subprocess.run([GIT, "-C", str(ROOT), "worktree", "add", "--detach", str(self.tree), revision],
                       check=True, capture_output=True)
        environment = {**os.environ, "PYTHONPATH": str(self.tree)}
        self.process = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=self.tree, env=environment,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self._read()
        if not str(ready.get("ready", "")).startswith(str(self.tree)):
            raise RuntimeError(f"the baseline worker imported the wrong code: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None  # noqa: S101 - opened with a pipe
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the baseline worker stopped")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _send(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None  # noqa: S101 - opened with a pipe
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._read()

    def build(self, size: int, seed: int) -> None:
        self._send({"cmd": "build", "size": size, "seed": seed, "path": str(self.folder / f"index-{size}")})

    def search(self, fields: dict[str, Any]) -> tuple[float, int]:
        answer = self._send({"cmd": "search", "fields": fields})
        return float(answer["ms"]), int(answer["total"])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        subprocess.run([GIT, "-C", str(ROOT), "worktree", "remove", "--force", str(self.tree)],
                       check=False, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
