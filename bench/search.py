"""Search benchmark: our Whoosh catalog index against a well-built SQLite FTS5 index of the same documents.

Run from the project root:

    .venv/bin/python -m bench.search [--sizes 10000,100000] [--queries 240] [--json results.json]

For each size it generates the synthetic catalog (bench/synthetic.py, seed 42), builds both indexes in a
temporary directory, warms both engines with 20 queries that are not measured, then runs the measured query
set once per engine, interleaved query by query. For the largest size it also measures an incremental
re-index of 100 changed resources, opening the index in a new process, and the resident memory of a fresh
process that ran the query set. See bench/README.md for what is measured and how.

The parts: search_queries.py (the query set), search_fts.py (the FTS5 baseline), search_extras.py (the
measurements at the largest size), search_report.py (tables and the summary), baseline.py (another
revision's search, run beside ours); this module runs them and compares the engines query by query.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.baseline import BaselineSearch
from bench.search_extras import measure_open, measure_reindex, measure_rss, measure_server_rss
from bench.search_fts import FtsEngine, build_fts
from bench.search_queries import FACET_VALUES, FACETS, KINDS, QUERY_SEED, WORD, BenchQuery, class_plan, make_queries
from bench.search_report import percentiles, print_extras, print_size, print_summary, ratio, table
from bench.synthetic import resources
from marketplace.catalog.index_store import build_index
from marketplace.catalog.resource import Resource
from marketplace.catalog.search import CatalogIndex

ROOT = Path(__file__).resolve().parent.parent
CATALOG_SEED = 42
WARMUP_SEED = 977
WARMUP_COUNT = 20
TITLE_POOL = 2000  # phrases come from the titles of the first resources, present in every catalog size


# -- running -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Outcome:
    ms: float | None
    total: int | None = None
    facets: dict[str, dict[str, int]] | None = None
    ids: list[str] = dataclasses.field(default_factory=list)
    suggestion: str | None = None
    error: str | None = None


def run_ours(index: CatalogIndex, query: BenchQuery) -> Outcome:
    request = query.request()
    start = time.perf_counter()
    try:
        result = index.search(request)
    except Exception as error:  # noqa: BLE001 - a benchmark reports errors rather than stopping
        return Outcome(None, error=f"{type(error).__name__}: {error}")
    ms = (time.perf_counter() - start) * 1000
    return Outcome(ms, result.total, result.facets, [hit.id for hit in result.hits], result.suggestion)


def run_fts(engine: FtsEngine, query: BenchQuery) -> Outcome:
    start = time.perf_counter()
    try:
        total, facets, ids = engine.search(query)
    except Exception as error:  # noqa: BLE001
        return Outcome(None, error=f"{type(error).__name__}: {error}")
    return Outcome((time.perf_counter() - start) * 1000, total, facets, ids)




def dir_size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def mib(size: float) -> float:
    return size / (1024 * 1024)


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def check_consistency(query: BenchQuery, outcome: Outcome) -> list[str]:
    """Internal checks of one of our results: facet sums against the total, the hit count."""
    problems: list[str] = []
    if outcome.total is None or outcome.facets is None:
        return problems
    if len(outcome.ids) != min(outcome.total, 20):
        problems.append(f"{len(outcome.ids)} hits for a total of {outcome.total}")
    filters = query.filters()
    if not any(filters.values()):
        for facet in ("subject", "type", "license"):  # single-valued: the counts partition the matches
            if sum(outcome.facets[facet].values()) != outcome.total:
                problems.append(f"{facet} counts sum to {sum(outcome.facets[facet].values())}, total {outcome.total}")
        if max(outcome.facets["grade"].values(), default=0) > outcome.total:
            problems.append("a grade count exceeds the total")
    else:
        for facet, values in filters.items():
            if values and facet != "grade" and sum(outcome.facets[facet][v] for v in values) != outcome.total:
                problems.append(f"selected {facet} counts do not add up to the total {outcome.total}")
    return problems


def measure_size(size: int, queries: list[BenchQuery], warmup: list[BenchQuery], extras: bool,
                 workdir: Path, baseline: BaselineSearch | None = None) -> dict[str, Any]:
    print(f"\n=== {size:,} resources ===", flush=True)
    generate_s, catalog = timed(lambda: list(resources(size, seed=CATALOG_SEED)))
    print(f"generated the catalog in {generate_s:.1f} s", flush=True)
    whoosh_path = workdir / f"whoosh-{size}"
    fts_path = workdir / f"fts-{size}.sqlite"
    whoosh_build_s, _ = timed(lambda: build_index(whoosh_path, catalog))
    print(f"ours: built in {whoosh_build_s:.1f} s", flush=True)
    fts_build_s, _ = timed(lambda: build_fts(fts_path, catalog))
    print(f"FTS5: built in {fts_build_s:.1f} s", flush=True)
    figures: dict[str, Any] = {
        "size": size, "generate_s": generate_s,
        "ours": {"build_s": whoosh_build_s, "size_mib": mib(dir_size(whoosh_path))},
        "fts5": {"build_s": fts_build_s, "size_mib": mib(fts_path.stat().st_size)},
    }

    index = CatalogIndex(whoosh_path)
    figures["ours"]["open_in_process_s"], _ = timed(index.open)
    engine = FtsEngine(fts_path)
    if baseline is not None:
        baseline.build(size, CATALOG_SEED)
        print(f"baseline {baseline.revision}: built", flush=True)
    for query in warmup:
        run_ours(index, query)
        run_fts(engine, query)
        if baseline is not None:
            baseline.search(query.request_fields())
    gc.collect()
    ours: list[Outcome] = []
    fts: list[Outcome] = []
    baseline_ms: list[float] = []
    for number, query in enumerate(queries):
        if number % 2 == 0:
            ours.append(run_ours(index, query))
            fts.append(run_fts(engine, query))
        else:
            fts.append(run_fts(engine, query))
            ours.append(run_ours(index, query))
        if baseline is not None:
            baseline_ms.append(baseline.search(query.request_fields())[0])
    if baseline is not None:
        figures["baseline"] = {"revision": baseline.revision, "latency_ms": percentiles(baseline_ms)}

    for name, outcomes in (("ours", ours), ("fts5", fts)):
        figures[name]["latency_ms"] = percentiles([o.ms for o in outcomes if o.ms is not None])
        figures[name]["errors"] = [(queries[i].label(), o.error) for i, o in enumerate(outcomes) if o.error]
        figures[name]["by_class"] = {
            kind: percentiles([o.ms for q, o in zip(queries, outcomes, strict=True) if q.kind == kind and o.ms])
            for kind in KINDS
        }
    figures["comparison"] = compare(queries, ours, fts, prefix_truth(catalog, queries))
    figures["consistency"] = [
        (query.label(), problem) for query, outcome in zip(queries, ours, strict=True)
        for problem in check_consistency(query, outcome)
    ]
    print_size(figures)
    if baseline is not None:
        mine, theirs = figures["ours"]["latency_ms"], figures["baseline"]["latency_ms"]
        print(f"\nagainst the baseline {baseline.revision} in this run (same queries, interleaved):")
        print(table(("figure", "ours", "baseline", "ratio"), [
            (name, mine[name], theirs[name], ratio(mine[name], theirs[name])) for name in ("p50", "p95", "p99")
        ]))

    if extras:
        query_file = workdir / "queries.json"
        query_file.write_text(json.dumps([q.request_fields() for q in queries]))
        figures["open_new_process"] = measure_open(whoosh_path)
        figures["rss"] = measure_rss(whoosh_path, query_file)
        figures["server"] = measure_server_rss(whoosh_path, queries, workdir)
        figures["reindex"] = measure_reindex(whoosh_path, index, catalog)
        print_extras(figures)
    index.close()
    engine.close()
    return figures


def prefix_truth(catalog: Sequence[Resource], queries: list[BenchQuery]) -> dict[tuple[Any, ...], int]:
    """For prefix queries: how many resources hold a word (as written, unstemmed) starting with the prefix,
    and the leading whole word if there is one, in the fields both engines search. A yardstick, since
    FTS5's porter tokenizer stems the prefix itself ("cles*" becomes "cle*") and ours caps expansions."""
    wanted = [query for query in queries if query.kind == "prefix"]
    if not wanted:
        return {}
    postings: dict[str, list[int]] = {}
    for number, resource in enumerate(catalog):
        text = " ".join((resource.title, *resource.keywords, resource.description, resource.author_name))
        for word in set(WORD.findall(text.casefold())):
            postings.setdefault(word, []).append(number)
    truth: dict[tuple[Any, ...], int] = {}
    for query in wanted:
        *leading, prefix = query.words
        docs: set[int] = set()
        for word, numbers in postings.items():
            if word.startswith(prefix):
                docs.update(numbers)
        for word in leading:
            docs &= set(postings.get(word, ()))
        truth[query.key] = len(docs)
    return truth


def compare(queries: list[BenchQuery], ours: list[Outcome], fts: list[Outcome],
            truth: dict[tuple[Any, ...], int]) -> dict[str, Any]:
    """How far our totals and facet counts are from FTS5's, per query class."""
    per_class: dict[str, Any] = {}
    rows: list[tuple[float, str, str, int, int]] = []
    for kind in KINDS:
        diffs: list[float] = []
        facet_diffs: list[float] = []
        overlaps: list[float] = []
        exact = zero_both = 0
        for query, mine, theirs in zip(queries, ours, fts, strict=True):
            if query.kind != kind or mine.total is None or theirs.total is None:
                continue
            diff = abs(mine.total - theirs.total) / max(mine.total, theirs.total, 1)
            diffs.append(diff)
            exact += mine.total == theirs.total
            zero_both += mine.total == theirs.total == 0
            rows.append((diff, kind, query.label(), mine.total, theirs.total))
            if mine.facets and theirs.facets:
                worst = 0.0
                for facet in FACETS:
                    for value in FACET_VALUES[facet]:
                        a, b = mine.facets[facet].get(value, 0), theirs.facets[facet].get(value, 0)
                        worst = max(worst, abs(a - b) / max(a, b, 1))
                facet_diffs.append(worst)
            if mine.ids or theirs.ids:
                overlaps.append(len(set(mine.ids) & set(theirs.ids)) / max(len(mine.ids), len(theirs.ids)))
        per_class[kind] = {
            "n": len(diffs), "exact": exact, "both_zero": zero_both,
            "within_5pct": sum(d <= 0.05 for d in diffs),
            "median_diff_pct": 100 * float(np.median(diffs)) if diffs else float("nan"),
            "max_diff_pct": 100 * max(diffs, default=float("nan")),
            "max_facet_diff_pct": 100 * max(facet_diffs, default=float("nan")),
            "top20_overlap": float(np.mean(overlaps)) if overlaps else float("nan"),
        }
    prefixed = [(truth[q.key], o.total, f.total) for q, o, f in zip(queries, ours, fts, strict=True)
                if q.kind == "prefix" and truth.get(q.key) and o.total is not None and f.total is not None]
    misspelled = [(q, o) for q, o in zip(queries, ours, strict=True) if q.kind == "misspelled"]
    rows.sort(reverse=True)
    slowest = sorted(((o.ms, q.kind, q.label(), o.total) for q, o in zip(queries, ours, strict=True) if o.ms),
                     reverse=True)[:8]
    return {
        "slowest_ours": [{"ms": ms, "kind": kind, "query": label, "total": total}
                         for ms, kind, label, total in slowest],
        "differing_non_prefix": [{"kind": k, "query": label, "ours": a, "fts5": b}
                                 for _, k, label, a, b in rows if k != "prefix" and a != b],
        "per_query": [{"kind": q.kind, "query": q.label(), "ours_ms": o.ms, "fts5_ms": f.ms, "ours_total": o.total,
                       "fts5_total": f.total, "suggestion": o.suggestion}
                      for q, o, f in zip(queries, ours, fts, strict=True)],
        "per_class": per_class,
        "worst": [{"kind": k, "query": label, "ours": a, "fts5": b, "diff_pct": 100 * d}
                  for d, k, label, a, b in rows[:8]],
        "samples": [{"kind": q.kind, "query": q.label(), "ours": o.total, "fts5": f.total}
                    for q, o, f in list(zip(queries, ours, fts, strict=True))[:12]],
        "prefix_recall": {
            "queries": len(prefixed),
            "ours_share_of_truth": sum(o for _, o, _ in prefixed) / max(1, sum(t for t, _, _ in prefixed)),
            "fts5_share_of_truth": sum(f for _, _, f in prefixed) / max(1, sum(t for t, _, _ in prefixed)),
            "ours_median_share": float(np.median([o / t for t, o, _ in prefixed])) if prefixed else float("nan"),
            "ours_min_share": min((o / t for t, o, _ in prefixed), default=float("nan")),
            "ours_below_half": sum(o < t / 2 for t, o, _ in prefixed),
        },
        "spelling": {
            "queries": len(misspelled),
            "zero_results": sum(o.total == 0 for _, o in misspelled),
            "suggested": sum(o.suggestion is not None for _, o in misspelled),
            "suggested_intended": sum(o.suggestion == q.intended for q, o in misspelled),
            "examples": [(q.text, q.intended, o.suggestion, o.total) for q, o in misspelled[:6]],
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="catalog sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=240, help="measured queries per engine (>= 200 advised)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary indexes (path is printed)")
    parser.add_argument("--no-extras", action="store_true", help="skip re-index, open and memory figures")
    parser.add_argument("--baseline", help="also time the search of this git revision, interleaved with ours")
    args = parser.parse_args(argv)
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]
    began = time.perf_counter()
    print(f"search benchmark, {dt.datetime.now().isoformat(timespec='seconds')}, Python {platform.python_version()},"
          f" SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, sizes {sizes}, {args.queries} queries")
    titles = [resource.title for resource in resources(TITLE_POOL, seed=CATALOG_SEED)]
    queries = make_queries(args.queries, QUERY_SEED, titles, set())
    warmup = make_queries(WARMUP_COUNT, WARMUP_SEED, titles, {query.key for query in queries})
    assert not {q.key for q in queries} & {q.key for q in warmup}
    print("query classes:", ", ".join(f"{kind} {count}" for kind, count in class_plan(args.queries).items()))
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    all_figures: list[dict[str, Any]] = []
    baseline = BaselineSearch(args.baseline) if args.baseline else None
    try:
        for size in sizes:
            all_figures.append(measure_size(size, queries, warmup, size == max(sizes) and not args.no_extras,
                                            workdir, baseline))
    finally:
        if baseline is not None:
            baseline.close()
        if args.keep:
            print(f"indexes kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_summary(all_figures)
    print(f"\ntotal run time {time.perf_counter() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"date": dt.date.today().isoformat(), "cpus": os.cpu_count(),
                                         "sqlite": sqlite3.sqlite_version, "queries": args.queries,
                                         "sizes": all_figures}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
