"""Search benchmark: our Whoosh catalog index against a well-built SQLite FTS5 index of the same documents.

Run from the project root:

    .venv/bin/python -m bench.search [--sizes 10000,100000] [--queries 240] [--json results.json]

For each size it generates the synthetic catalog (bench/synthetic.py, seed 42), builds both indexes in a
temporary directory, warms both engines with 20 queries that are not measured, then runs the measured query
set once per engine, interleaved query by query. For the largest size it also measures an incremental
re-index of 100 changed resources, opening the index in a new process, and the resident memory of a fresh
process that ran the query set. See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.baseline import BaselineSearch
from bench.synthetic import ZipfSampler, resources, vocabulary
from marketplace.catalog.index_store import apply_changes, build_index
from marketplace.catalog.licences import LICENCES
from marketplace.catalog.resource import Resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.vocabulary import GRADE_LEVELS, RESOURCE_TYPES, SUBJECTS

ROOT = Path(__file__).resolve().parent.parent
CATALOG_SEED = 42
QUERY_SEED = 20240611
WARMUP_SEED = 977
WARMUP_COUNT = 20
TITLE_POOL = 2000  # phrases come from the titles of the first resources, present in every catalog size
CHANGED_RESOURCES = 100
CHANGE_MARKER = "benchrevision"
KINDS = ("plain", "filtered", "phrase", "prefix", "misspelled")
KIND_SHARES = {"filtered": 0.30, "phrase": 0.15, "prefix": 0.175, "misspelled": 0.075}  # plain: the rest
FTS_WEIGHTS = "3.0, 2.0, 1.0, 1.0"  # title, keywords, description, author
FACETS = ("subject", "grade", "type", "license")
FACET_VALUES = {
    "subject": tuple(SUBJECTS),
    "grade": tuple(GRADE_LEVELS),
    "type": tuple(RESOURCE_TYPES),
    "license": tuple(LICENCES),
}
WORD = re.compile(r"\w+")
TARGETS = {"p95_ms": 40.0, "p99_ms": 100.0, "ratio_p95": 1.0, "build_s": 30.0, "reindex_s": 3.0,
           "open_s": 1.0, "rss_mb": 300.0}


# -- the query set -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BenchQuery:
    """One query as both engines see it. For prefix queries the last word is the prefix being typed."""

    kind: str
    words: tuple[str, ...]
    subjects: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    intended: str | None = None  # the correct word of a misspelled query

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return f'"{joined}"' if self.kind == "phrase" else joined

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.words, self.subjects, self.grades, self.types, self.licenses)

    def filters(self) -> dict[str, tuple[str, ...]]:
        return {"subject": self.subjects, "grade": self.grades, "type": self.types, "license": self.licenses}

    def request_fields(self) -> dict[str, Any]:
        return {"text": self.text, "subjects": self.subjects, "grades": self.grades, "types": self.types,
                "licenses": self.licenses, "page": 1, "per_page": 20, "sort": "relevance",
                "as_you_type": self.kind == "prefix"}

    def request(self) -> SearchRequest:
        return SearchRequest(**self.request_fields())

    def fts_match(self) -> str:
        """The FTS5 MATCH expression: words ANDed, a phrase over the fields ours phrase-matches, `pre*`."""
        if self.kind == "phrase":
            return "{title description author} : \"" + " ".join(self.words) + '"'
        terms = [f'"{word}"' for word in self.words]
        if self.kind == "prefix":
            terms[-1] += "*"
        return " ".join(terms)

    def label(self) -> str:
        active = [f"{facet}={'|'.join(values)}" for facet, values in self.filters().items() if values]
        return self.text + (" [" + ", ".join(active) + "]" if active else "")


class QueryMaker:
    """Draws queries of each class from the Zipf vocabulary and real generated titles."""

    def __init__(self, seed: int, titles: Sequence[str]) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary()
        self.known = set(self.words)
        self.sampler = ZipfSampler(self.words, self.rng)
        self.titles = [title.casefold().split() for title in titles if len(title.split()) >= 2]

    def _word(self, min_length: int = 1) -> str:
        while True:
            word = self.sampler.sample(1)[0]
            if len(word) >= min_length:
                return word

    def _filters(self) -> dict[str, tuple[str, ...]]:
        rng = self.rng
        facets = [rng.choice(FACETS)] if rng.random() < 0.5 else ["grade", rng.choice(("subject", "type", "license"))]
        chosen: dict[str, tuple[str, ...]] = {}
        for facet in facets:
            values = FACET_VALUES[facet]
            if facet == "grade" and rng.random() < 0.3:
                first = rng.randrange(len(values) - 1)
                chosen[facet] = values[first : first + 2]
            else:
                chosen[facet] = (rng.choice(values),)
        return {"subjects": chosen.get("subject", ()), "grades": chosen.get("grade", ()),
                "types": chosen.get("type", ()), "licenses": chosen.get("license", ())}

    def make(self, kind: str) -> BenchQuery:
        rng = self.rng
        if kind == "plain":
            return BenchQuery(kind, tuple(self._word() for _ in range(rng.choice((1, 2)))))
        if kind == "filtered":
            words = tuple(self._word() for _ in range(rng.choice((1, 2))))
            chosen = self._filters()
            return BenchQuery(kind, words, subjects=chosen["subjects"], grades=chosen["grades"], types=chosen["types"],
                              licenses=chosen["licenses"])
        if kind == "phrase":
            title = rng.choice(self.titles)
            start = rng.randrange(len(title) - 1)
            return BenchQuery(kind, tuple(title[start : start + 2]))
        if kind == "prefix":
            word = self._word(min_length=5)
            prefix = word[: rng.randint(2, 4)]
            leading = (self._word(),) if rng.random() < 1 / 3 else ()
            return BenchQuery(kind, (*leading, prefix))
        if kind == "misspelled":
            while True:
                word = self._word(min_length=6)
                wrong = self._misspell(word)
                if wrong != word and wrong not in self.known:
                    return BenchQuery(kind, (wrong,), intended=word)
        raise ValueError(kind)

    def _misspell(self, word: str) -> str:
        rng = self.rng
        position = rng.randrange(1, len(word) - 1)  # keep the first letter, as people mostly do
        operation = rng.choice(("substitute", "delete", "transpose", "insert"))
        letter = rng.choice([c for c in string.ascii_lowercase if c != word[position]])
        if operation == "substitute":
            return word[:position] + letter + word[position + 1 :]
        if operation == "delete":
            return word[:position] + word[position + 1 :]
        if operation == "transpose":
            return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
        return word[:position] + letter + word[position:]


def class_plan(count: int) -> dict[str, int]:
    plan = {kind: max(1, round(count * share)) for kind, share in KIND_SHARES.items()}
    plan = {"plain": count - sum(plan.values()), **plan}
    if plan["plain"] < 1:
        raise SystemExit(f"--queries {count} is too few for every query class")
    return plan


def make_queries(count: int, seed: int, titles: Sequence[str], exclude: set[tuple[Any, ...]]) -> list[BenchQuery]:
    """`count` distinct queries in the class proportions, none of whose keys is in `exclude`, shuffled."""
    maker = QueryMaker(seed, titles)
    seen = set(exclude)
    queries: list[BenchQuery] = []
    for kind, wanted in class_plan(count).items():
        made = attempts = 0
        while made < wanted:
            attempts += 1
            if attempts > wanted * 200:
                raise RuntimeError(f"could not draw {wanted} distinct {kind} queries")
            query = maker.make(kind)
            if query.key not in seen:
                seen.add(query.key)
                queries.append(query)
                made += 1
    maker.rng.shuffle(queries)
    return queries


# -- SQLite FTS5 --------------------------------------------------------------------------------------
FTS_SCHEMA = f"""
CREATE TABLE resources (
    pk INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    type TEXT NOT NULL,
    license TEXT NOT NULL,
    language TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    keywords TEXT NOT NULL,
    description TEXT NOT NULL,
    author TEXT NOT NULL,
    display TEXT NOT NULL
);
CREATE TABLE resource_grades (
    resource_rowid INTEGER NOT NULL REFERENCES resources(pk),
    grade TEXT NOT NULL,
    PRIMARY KEY (resource_rowid, grade)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(
    title, keywords, description, author,
    content='resources', content_rowid='pk',
    tokenize='porter unicode61', prefix='2 3 4'
);
INSERT INTO fts(fts, rank) VALUES ('rank', 'bm25({FTS_WEIGHTS})');
"""
FTS_INDEXES = """
CREATE INDEX resources_subject ON resources(subject);
CREATE INDEX resources_type ON resources(type);
CREATE INDEX resources_license ON resources(license);
CREATE INDEX resource_grades_grade ON resource_grades(grade, resource_rowid);
"""


def _display(resource: Resource) -> str:
    return json.dumps({"thumbnail": resource.thumbnail, "author_url": resource.author_url,
                       "license_url": resource.license_url, "attribution": resource.license_attribution,
                       "grade_levels": list(resource.grade_levels), "keywords": list(resource.keywords)},
                      separators=(",", ":"))


def build_fts(path: Path, catalog: Sequence[Resource]) -> None:
    """The FTS5 index of `catalog`, built as one transaction with the journal and syncs off."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("BEGIN")
        for statement in FTS_SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany(
            "INSERT INTO resources VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ((pk, r.subject, r.type, r.license_id, r.language, r.id, r.content_hash, r.title,
              ", ".join(r.keywords), r.description, r.author_name, _display(r))
             for pk, r in enumerate(catalog, start=1)),
        )
        conn.executemany(
            "INSERT INTO resource_grades VALUES (?,?)",
            ((pk, grade) for pk, r in enumerate(catalog, start=1) for grade in r.grade_levels),
        )
        conn.execute("INSERT INTO fts(fts) VALUES ('rebuild')")
        conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        for statement in FTS_INDEXES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("ANALYZE")
        conn.execute("COMMIT")
    finally:
        conn.close()


class FtsEngine:
    """Top 20 by bm25, disjunctive facet counts and the total, as six statements per search."""

    COLUMNS = {"subject": "subject", "type": "type", "license": "license"}

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.conn.execute("PRAGMA cache_size=-65536")
        self.conn.execute("PRAGMA mmap_size=268435456")

    def close(self) -> None:
        self.conn.close()

    def _where(self, query: BenchQuery, skip: str | None) -> tuple[list[str], list[Any], bool]:
        """WHERE terms (after the MATCH) and their parameters; whether they need the resources row."""
        clauses: list[str] = []
        params: list[Any] = []
        needs_row = False
        for facet, values in query.filters().items():
            if not values or facet == skip:
                continue
            marks = ",".join("?" * len(values))
            if facet == "grade":
                clauses.append("EXISTS (SELECT 1 FROM resource_grades AS gf WHERE gf.resource_rowid = fts.rowid"
                               f" AND gf.grade IN ({marks}))")
            else:
                clauses.append(f"r.{self.COLUMNS[facet]} IN ({marks})")
                needs_row = True
            params.extend(values)
        return clauses, params, needs_row

    def search(self, query: BenchQuery) -> tuple[int, dict[str, dict[str, int]], list[str]]:
        match = query.fts_match()
        run = self.conn.execute
        clauses, params, needs_row = self._where(query, None)
        join = " JOIN resources AS r ON r.pk = fts.rowid" if needs_row else ""
        where = " AND ".join(["fts MATCH ?", *clauses])
        hits = run(
            "SELECT d.id, d.title, d.description, d.subject, d.type, d.license, d.author, d.display, top.score"
            f" FROM (SELECT fts.rowid AS pk, bm25(fts, {FTS_WEIGHTS}) AS score FROM fts{join} WHERE {where}"
            " ORDER BY score LIMIT 20) AS top JOIN resources AS d ON d.pk = top.pk ORDER BY top.score",
            [match, *params],
        ).fetchall()
        total = run(f"SELECT count(*) FROM fts{join} WHERE {where}", [match, *params]).fetchone()[0]
        facets: dict[str, dict[str, int]] = {}
        for facet in FACETS:
            clauses, params, _ = self._where(query, facet)
            where = " AND ".join(["fts MATCH ?", *clauses])
            if facet == "grade":
                sql = ("SELECT g.grade, count(*) FROM fts JOIN resource_grades AS g ON g.resource_rowid = fts.rowid"
                       f" JOIN resources AS r ON r.pk = fts.rowid WHERE {where} GROUP BY g.grade")
                if not any(query.filters()[other] for other in self.COLUMNS):
                    sql = sql.replace(" JOIN resources AS r ON r.pk = fts.rowid", "")
            else:
                column = self.COLUMNS[facet]
                sql = (f"SELECT r.{column}, count(*) FROM fts JOIN resources AS r ON r.pk = fts.rowid"
                       f" WHERE {where} GROUP BY r.{column}")
            counts = dict.fromkeys(FACET_VALUES[facet], 0)
            counts.update(run(sql, [match, *params]).fetchall())
            facets[facet] = counts
        return total, facets, [row[0] for row in hits]


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


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    array = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(array.max())}


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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
