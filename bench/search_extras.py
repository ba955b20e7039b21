"""The extra measurements at the largest size: opening the index in a fresh process, memory of a searching
process and of the served app, and re-indexing a few changed resources."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.search_queries import QUERY_SEED, BenchQuery
from bench.search_report import percentiles
from bench.synthetic import ZipfSampler, vocabulary
from marketplace.catalog.index_store import apply_changes
from marketplace.catalog.resource import Resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from tests.lti.servers import unused_port

ROOT = Path(__file__).resolve().parent.parent

CHANGE_MARKER = "benchrevision"

CHANGED_RESOURCES = 100

# -- the extra measurements at the largest size ----------------------------------------------------
CHILD_OPEN = r"""
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
imported = time.perf_counter()
index = CatalogIndex(Path(sys.argv[1]))
index.open()
opened = time.perf_counter()
result = index.search(SearchRequest(text=sys.argv[2], grades=(sys.argv[3],)))
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "open_s": opened - imported, "first_search_s": done - opened,
                  "open_and_search_s": done - imported, "total": result.total}))
"""


CHILD_RSS = r"""
import json, sys
from pathlib import Path

def memory():
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) / 1024
    return found

from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
imported = memory()
index = CatalogIndex(Path(sys.argv[1]))
index.open()
opened = memory()
with open(sys.argv[2]) as handle:
    requests = json.load(handle)
for fields in requests:
    for name in ("subjects", "grades", "types", "licenses"):
        fields[name] = tuple(fields[name])
    index.search(SearchRequest(**fields))
print(json.dumps({"after_import": imported, "after_open": opened, "after_queries": memory(),
                  "queries": len(requests)}))
"""


def _child(code: str, *args: str) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"child process failed:\n{done.stderr}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def measure_open(path: Path) -> dict[str, Any]:
    """Three fresh processes each import, open the index and run one search (OS file cache is warm)."""
    words = vocabulary()
    runs = []
    for number, (text, grade) in enumerate(((words[3], "6-8"), (words[40], "9-12"), (words[7], "k-2"))):
        wall, inside = _child(CHILD_OPEN, str(path), text, grade)
        runs.append({"run": number + 1, "wall_s": wall, **inside})
    return {"runs": runs,
            "open_and_search_s_median": float(np.median([r["open_and_search_s"] for r in runs])),
            "open_and_search_s_max": max(r["open_and_search_s"] for r in runs),
            "wall_s_median": float(np.median([r["wall_s"] for r in runs]))}


def measure_rss(path: Path, query_file: Path) -> dict[str, Any]:
    wall, inside = _child(CHILD_RSS, str(path), str(query_file))
    inside["wall_s"] = wall
    return inside


def _free_port() -> int:
    return unused_port()


def _status(pid: int) -> dict[str, float]:
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) / 1024
    return found


def measure_server_rss(index_path: Path, queries: list[BenchQuery], workdir: Path) -> dict[str, Any]:
    """The real server (`marketplace serve`) on loopback with this index open, after the measured queries
    sent over HTTP to /api/catalog/search; RSS read from /proc for the server process."""
    data_dir = workdir / "server-data"
    data_dir.mkdir(exist_ok=True)
    (data_dir / "index").symlink_to(index_path)
    env = {**os.environ, "MARKETPLACE_DATA_DIR": str(data_dir), "MARKETPLACE_CONTENT_DIR": str(ROOT / "content"),
           "MARKETPLACE_ENV": "development"}
    cli = [sys.executable, "-m", "marketplace.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not become healthy")
                time.sleep(0.2)
            started = _status(server.pid)
            latencies = []
            for query in queries:
                text = query.text + ("*" if query.kind == "prefix" else "")
                params: list[tuple[str, str]] = [("q", text), ("per_page", "20")]
                for name, values in (("subject", query.subjects), ("grade", query.grades),
                                     ("type", query.types), ("license", query.licenses)):
                    params += [(name, value) for value in values]
                begin = time.perf_counter()
                response = client.get("/api/catalog/search", params=params)
                latencies.append((time.perf_counter() - begin) * 1000)
                response.raise_for_status()
            after = _status(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"after_start": started, "after_queries": after, "queries": len(queries),
            "http_latency_ms": percentiles(latencies)}


def measure_reindex(path: Path, index: CatalogIndex, catalog: list[Resource]) -> dict[str, Any]:
    """Change 100 resources, time apply_changes, then poll the already open index until it sees them."""
    rng = random.Random(QUERY_SEED + 1)
    sampler = ZipfSampler(vocabulary(), rng)
    changed: list[Resource] = []
    for position in sorted(rng.sample(range(len(catalog)), CHANGED_RESOURCES)):
        old = catalog[position]
        title = f"Revised {CHANGE_MARKER} " + " ".join(sampler.sample(rng.randint(3, 6)))
        description = " ".join(sampler.sample(rng.randint(25, 60))).capitalize() + f" {CHANGE_MARKER}."
        content_hash = hashlib.sha256(f"{title}\n{description}".encode()).hexdigest()
        changed.append(dataclasses.replace(old, title=title, description=description, content_hash=content_hash))
    probe = SearchRequest(text=CHANGE_MARKER)
    before = index.search(probe).total
    documents_before = index.document_count()
    start = time.perf_counter()
    apply_changes(path, changed, [])
    applied = time.perf_counter()
    polls = 0
    seen_s = reload_search_ms = None
    while time.perf_counter() - applied < 30:
        polls += 1
        call = time.perf_counter()
        total = index.search(probe).total
        finished = time.perf_counter()
        if total == CHANGED_RESOURCES:
            seen_s, reload_search_ms = finished - start, (finished - call) * 1000
            break
        time.sleep(0.05)
    after_probe_ms: list[float] = []
    for word in vocabulary()[1000:1005]:  # fresh words: the first searches on the new generation
        call = time.perf_counter()
        index.search(SearchRequest(text=word))
        after_probe_ms.append((time.perf_counter() - call) * 1000)
    return {"apply_changes_s": applied - start, "visible_after_s": seen_s, "reload_search_ms": reload_search_ms,
            "polls": polls, "marker_total_before": before, "documents_before": documents_before,
            "documents_after": index.document_count(), "searches_after_reload_ms": after_probe_ms}
