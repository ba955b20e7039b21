"""Printing the benchmark's figures: one table per catalog size, the extras, and the summary against the targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.search_queries import KINDS

TARGETS = {"p95_ms": 40.0, "p99_ms": 100.0, "ratio_p95": 1.0, "build_s": 30.0, "reindex_s": 3.0,
           "open_s": 1.0, "rss_mb": 300.0}


# -- printing -----------------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "n/a" if value != value else f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    pairs = list(zip(headers, widths, strict=True))
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(pairs))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        padded = enumerate(zip(row, widths, strict=True))
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in padded))
    return "\n".join(lines)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def print_size(f: dict[str, Any]) -> None:
    o, s = f["ours"], f["fts5"]
    lo, ls = o["latency_ms"], s["latency_ms"]
    print()
    print(table(("measure", "ours (Whoosh)", "SQLite FTS5", "Whoosh/FTS5"), [
        ("build seconds", o["build_s"], s["build_s"], ratio(o["build_s"], s["build_s"])),
        ("index size MiB", o["size_mib"], s["size_mib"], ratio(o["size_mib"], s["size_mib"])),
        ("top-20 + facets p50 ms", lo["p50"], ls["p50"], ratio(lo["p50"], ls["p50"])),
        ("top-20 + facets p95 ms", lo["p95"], ls["p95"], ratio(lo["p95"], ls["p95"])),
        ("top-20 + facets p99 ms", lo["p99"], ls["p99"], ratio(lo["p99"], ls["p99"])),
        ("top-20 + facets max ms", lo["max"], ls["max"], ratio(lo["max"], ls["max"])),
        ("errors", len(o["errors"]), len(s["errors"]), ""),
    ]))
    print(f"(ours: index opened in-process in {o['open_in_process_s'] * 1000:.0f} ms)")
    print("\nlatency per query class (ms)")
    comparison = f["comparison"]["per_class"]
    print(table(("class", "n", "ours p50", "ours p95", "ours max", "FTS5 p50", "FTS5 p95"), [
        (kind, comparison[kind]["n"], o["by_class"][kind]["p50"], o["by_class"][kind]["p95"],
         o["by_class"][kind]["max"], s["by_class"][kind]["p50"], s["by_class"][kind]["p95"])
        for kind in KINDS
    ]))
    print("\ntotals, ours against FTS5 (different tokenizers: close, not identical, is expected)")
    print(table(("class", "n", "equal", "both 0", "within 5%", "median diff %", "max diff %",
                 "max facet diff %", "top-20 overlap"), [
        (kind, c["n"], c["exact"], c["both_zero"], c["within_5pct"], c["median_diff_pct"], c["max_diff_pct"],
         c["max_facet_diff_pct"], c["top20_overlap"]) for kind, c in comparison.items()
    ]))
    print("\nsample queries (first 12 of the measured set)")
    print(table(("class", "query", "ours total", "FTS5 total"),
                [(r["kind"], r["query"], r["ours"], r["fts5"]) for r in f["comparison"]["samples"]]))
    print("\nlargest total differences")
    print(table(("class", "query", "ours total", "FTS5 total", "diff %"),
                [(r["kind"], r["query"], r["ours"], r["fts5"], r["diff_pct"]) for r in f["comparison"]["worst"]]))
    print("\nnon-prefix queries whose totals differ:",
          ", ".join(f"{r['query']} ({r['ours']} vs {r['fts5']})" for r in f["comparison"]["differing_non_prefix"])
          or "none")
    print("\nour slowest queries")
    print(table(("class", "query", "ms", "total"),
                [(r["kind"], r["query"], r["ms"], r["total"]) for r in f["comparison"]["slowest_ours"]]))
    recall = f["comparison"]["prefix_recall"]
    print(f"\nprefix queries against a yardstick (resources holding a word that starts with the prefix, "
          f"{recall['queries']} queries): ours finds {100 * recall['ours_share_of_truth']:.0f}% of them "
          f"(median per query {100 * recall['ours_median_share']:.0f}%, lowest {100 * recall['ours_min_share']:.0f}%, "
          f"{recall['ours_below_half']} queries under half), FTS5 {100 * recall['fts5_share_of_truth']:.0f}% "
          f"(above 100% where porter stems the prefix)")
    spelling = f["comparison"]["spelling"]
    print(f"\nmisspelled queries: {spelling['queries']}, zero results {spelling['zero_results']}, "
          f"with a suggestion {spelling['suggested']}, suggestion = intended word {spelling['suggested_intended']}")
    for text, intended, suggestion, total in spelling["examples"]:
        print(f"  {text!r} (meant {intended!r}): total {total}, suggestion {suggestion!r}")
    for name in ("ours", "fts5"):
        for label, error in f[name]["errors"][:10]:
            print(f"ERROR {name}: {label}: {error}")
    for label, problem in f["consistency"][:10]:
        print(f"INCONSISTENT ours: {label}: {problem}")
    if not f["consistency"]:
        print("ours: facet counts consistent with totals and hit counts on every query")


def print_extras(f: dict[str, Any]) -> None:
    opened, rss, reindex = f["open_new_process"], f["rss"], f["reindex"]
    print(f"\nextra measurements at {f['size']:,} resources")
    rows: list[tuple[str, Any]] = [
        ("re-index 100 changed: apply_changes s", reindex["apply_changes_s"]),
        ("re-index 100 changed: visible to the open index after s", reindex["visible_after_s"] or float("nan")),
        ("re-index: the search that reloaded the index ms", reindex["reload_search_ms"] or float("nan")),
        ("re-index: 5 searches after the reload ms",
         " / ".join(f"{v:.0f}" for v in reindex["searches_after_reload_ms"])),
        ("re-index: documents before / after", f"{reindex['documents_before']:,} / {reindex['documents_after']:,}"),
    ]
    for run in opened["runs"]:
        rows.append((f"new process #{run['run']}: import / open / first search s",
                     f"{run['import_s']:.2f} / {run['open_s']:.2f} / {run['first_search_s']:.2f}"))
        rows.append((f"new process #{run['run']}: open + first search (inside) / child wall s",
                     f"{run['open_and_search_s']:.2f} / {run['wall_s']:.2f}"))
    rows += [
        ("RSS after import MiB (VmRSS)", rss["after_import"]["VmRSS"]),
        ("RSS after open MiB (VmRSS)", rss["after_open"]["VmRSS"]),
        (f"RSS after {rss['queries']} queries MiB (VmRSS)", rss["after_queries"]["VmRSS"]),
        ("peak RSS MiB (VmHWM)", rss["after_queries"]["VmHWM"]),
        ("  of which, after the queries: anonymous (RssAnon) MiB", rss["after_queries"]["RssAnon"]),
        ("  of which, after the queries: mapped files (RssFile) MiB", rss["after_queries"]["RssFile"]),
        ("server (marketplace serve): RSS after start MiB", f["server"]["after_start"]["VmRSS"]),
        (f"server: RSS after {f['server']['queries']} HTTP searches MiB", f["server"]["after_queries"]["VmRSS"]),
        ("server: peak RSS MiB (VmHWM)", f["server"]["after_queries"]["VmHWM"]),
        ("server: HTTP search p50 / p95 / p99 ms", " / ".join(
            f"{f['server']['http_latency_ms'][key]:.1f}" for key in ("p50", "p95", "p99"))),
    ]
    print(table(("measure", "value"), rows))


def print_summary(all_figures: list[dict[str, Any]]) -> None:
    print("\n=== summary against the targets ===")
    rows = []
    for f in all_figures:
        lo, ls = f["ours"]["latency_ms"], f["fts5"]["latency_ms"]
        n = f"{f['size']:,}"
        rows += [
            (f"{n}: top-20 + facets p95 ms", lo["p95"], f"<= {TARGETS['p95_ms']:.0f}", lo["p95"] <= TARGETS["p95_ms"]),
            (f"{n}: top-20 + facets p99 ms", lo["p99"], f"<= {TARGETS['p99_ms']:.0f}", lo["p99"] <= TARGETS["p99_ms"]),
            (f"{n}: p95 Whoosh/FTS5", ratio(lo["p95"], ls["p95"]), "<= 1.0",
             ratio(lo["p95"], ls["p95"]) <= TARGETS["ratio_p95"]),
            (f"{n}: full build s", f["ours"]["build_s"], f"<= {TARGETS['build_s']:.0f}",
             f["ours"]["build_s"] <= TARGETS["build_s"]),
        ]
        if "reindex" in f:
            seen = f["reindex"]["visible_after_s"]
            rows += [
                (f"{n}: re-index 100 (apply_changes) s", f["reindex"]["apply_changes_s"], "<= 3",
                 f["reindex"]["apply_changes_s"] <= TARGETS["reindex_s"]),
                (f"{n}: re-index 100, visible in open index s", seen or float("nan"), "<= 3",
                 seen is not None and seen <= TARGETS["reindex_s"]),
                (f"{n}: new process open + first search s", f["open_new_process"]["open_and_search_s_max"],
                 "<= 1", f["open_new_process"]["open_and_search_s_max"] <= TARGETS["open_s"]),
                (f"{n}: new process wall (incl. interpreter, imports) s", f["open_new_process"]["wall_s_median"],
                 "<= 1", f["open_new_process"]["wall_s_median"] <= TARGETS["open_s"]),
                (f"{n}: peak RSS after the queries MiB", f["rss"]["after_queries"]["VmHWM"], "<= 300",
                 f["rss"]["after_queries"]["VmHWM"] <= TARGETS["rss_mb"]),
                (f"{n}: server peak RSS after HTTP searches MiB", f["server"]["after_queries"]["VmHWM"], "<= 300",
                 f["server"]["after_queries"]["VmHWM"] <= TARGETS["rss_mb"]),
            ]
    print(table(("figure", "value", "target", "met"), [(a, b, c, "yes" if d else "NO") for a, b, c, d in rows]))


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    array = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(array.max())}
