"""Compacting a host's search index off the re-index's path (the policy is in merging.py).

Every host's replica checks its index when it checks the catalog (every 15 s) and, when the merge policy
asks for a step, runs the compaction in a child process at a lower priority: a merge is seconds of CPU, and in a
serving worker it would hold the GIL against its searches. Searches go on against the open generation, and
the worker loads the compacted one by its stamp, as after any re-index. The child takes the host's index lock
without waiting: while `marketplace index` or another worker holds it, the step waits for the next check.

A compaction also realigns the forward files when a stopped commit left them behind Whoosh's generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from whoosh.index import IndexError as WhooshIndexError

from marketplace.catalog import merging
from marketplace.catalog.index_store import compact, forward_is_aligned, index_exists, segment_sizes
from marketplace.catalog.sync import index_lock

logger = logging.getLogger("marketplace.catalog")
CHILD_NICENESS = 10


class CompactionFailedError(RuntimeError):
    """The compaction child exited with an error (its own message went to the server's log)."""


def needs_compaction(index_dir: Path) -> bool:
    """Whether the index at `index_dir` has a compaction step to run (or forward files to realign). False too
    when a commit replaced the generation while it was being read: the next check looks again."""
    if not index_exists(index_dir):
        return False
    try:
        return not forward_is_aligned(index_dir) or bool(merging.compaction_plan(segment_sizes(index_dir)))
    except (OSError, WhooshIndexError):
        return False


def compact_now(index_dir: Path, *, wait: bool = False) -> int | None:
    """Compact the index at `index_dir` in this process under the host's index lock; the commits made, or
    None when another process holds the lock and `wait` is off."""
    with index_lock(index_dir, wait=wait) as free:
        if not free or not index_exists(index_dir):
            return None if not free else 0
        return compact(index_dir)


async def compact_in_child(index_dir: Path, stop: asyncio.Event | None = None) -> bool:
    """Run `compact_now` in a child process; True if it committed. A `stop` set while it runs ends it: a
    commit stopped half way is realigned by the next compaction. Raises CompactionFailedError if the child
    failed."""
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "marketplace.catalog.compaction", str(index_dir),
        stdout=asyncio.subprocess.PIPE, env=_child_environment())
    waiting = asyncio.ensure_future(child.communicate())
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        await asyncio.wait({waiting, *([stopping] if stopping else [])}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            child.terminate()
            await child.wait()
            return False
        output, _ = waiting.result()
    finally:
        if stopping is not None:
            stopping.cancel()
        if not waiting.done():
            waiting.cancel()
    if child.returncode != 0:
        raise CompactionFailedError(f"the compaction process exited with status {child.returncode}")
    lines = output.decode("utf-8", "replace").split()
    try:  # the count is the child's last line; anything a library printed before it is ignored
        commits = int(lines[-1]) if lines else 0
    except ValueError:
        raise CompactionFailedError(f"the compaction process answered {lines[-1][:80]!r}, not a count") from None
    if commits:
        logger.info("catalog index compacted", extra={"commits": commits,
                                                      "seconds": round(time.perf_counter() - started, 2)})
    return commits > 0


def _child_environment() -> dict[str, str]:
    """This process's environment, with this process's own copy of the package first on the import path (a
    child started from a checkout or a release runs the same code as its parent)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else os.pathsep.join((root, path))}


def main(arguments: list[str]) -> int:
    """The child: compact the index folder named by the one argument; print the commits made."""
    if len(arguments) != 1:
        print("usage: python -m marketplace.catalog.compaction INDEX_DIR", file=sys.stderr)
        return 2
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    print(compact_now(Path(arguments[0])) or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
