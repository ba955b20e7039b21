"""Relevance benchmark: what the catalog search finds for what teachers type, beside a naive SQLite FTS5 search.

Run from the project root:

    .venv/bin/python -m bench.relevance [--json results.json] [--show-misses]

It builds the bundled catalog the way a user does (`marketplace db upgrade`, `marketplace index` in a
temporary data folder), then asks every query through the HTTP route `/api/catalog/search` of the app
(in-process ASGI, no network). The same queries go to a naive SQLite FTS5 search over the same titles,
descriptions and keywords (porter stemmer, any word, bm25 order) in the same run. Three query sets:

- the suite (`tests/catalog/relevance_suite.toml`): teacher queries with the resources that must appear in
  the top 3 or top 10, written from the catalog rather than from the search code;
- every resource's exact title, and its title lower-cased without punctuation (target: top 3 for all);
- every title's words reordered, one word's number changed and a stop word added (target: top 10, 95%).

Figures: recall@3 and recall@10 (share of expected resources found that high), mean reciprocal rank of
the first expected resource (0 when it is not in the top 10), queries answered (any result at all).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "catalog" / "relevance_suite.toml"
DEPTH = 10
STOP_WORDS_TO_ADD = ("the", "of", "for", "a", "and")

Search = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True)
class SuiteQuery:
    """One query and the resources that must appear in its top 3 and top 10."""

    text: str
    category: str
    top3: tuple[str, ...] = ()
    top10: tuple[str, ...] = ()

    @property
    def expected(self) -> tuple[str, ...]:
        return (*self.top3, *self.top10)

    def misses(self, found: Sequence[str]) -> list[str]:
        """The expected resources that are not where they must be."""
        return [item for item in self.top3 if item not in found[:3]] + [
            item for item in self.top10 if item not in found[:10]
        ]


@dataclass(slots=True)
class Scores:
    """Figures of one engine on one query set."""

    queries: int = 0
    answered: int = 0
    passed: int = 0
    recall3: float = 0.0
    recall10: float = 0.0
    mrr: float = 0.0
    misses: list[tuple[SuiteQuery, list[str]]] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.queries if self.queries else 0.0


def load_suite(path: Path = SUITE) -> list[SuiteQuery]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        SuiteQuery(entry["text"], entry["category"], tuple(entry.get("top3", ())), tuple(entry.get("top10", ())))
        for entry in data["query"]
    ]


def catalog_titles(content_dir: Path) -> dict[str, str]:
    """Resource id -> title, read from the catalog files."""
    titles: dict[str, str] = {}
    for path in sorted((content_dir / "resources").glob("*/*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        titles[data["id"]] = data["title"]
    return titles


def plain_title(title: str) -> str:
    """Lower-cased, punctuation removed, spaces normalised."""
    return " ".join(re.sub(r"[^\w\s]", " ", title.casefold()).split())


def title_queries(titles: dict[str, str]) -> list[SuiteQuery]:
    """Each resource's exact title, and its plain form, expected in the top 3."""
    queries: list[SuiteQuery] = []
    for resource_id, title in titles.items():
        queries.append(SuiteQuery(title, "exact-title", (resource_id,)))
        queries.append(SuiteQuery(plain_title(title), "plain-title", (resource_id,)))
    return queries


def _other_number(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    if word.endswith("y") and len(word) > 3 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def variant_queries(titles: dict[str, str]) -> list[SuiteQuery]:
    """Title words reordered (rotated by one), one word's number changed, a stop word added: top 10."""
    queries: list[SuiteQuery] = []
    for number, (resource_id, title) in enumerate(titles.items()):
        words = [word for word in plain_title(title).split() if word not in STOP_WORDS_TO_ADD]
        if len(words) < 2:
            continue
        # Change the number of the longest alphabetic word (the likeliest topic word).
        candidates = [index for index, word in enumerate(words) if word.isalpha() and len(word) > 3]
        if candidates:
            longest = max(candidates, key=lambda index: len(words[index]))
            words[longest] = _other_number(words[longest])
        rotated = words[1:] + words[:1]
        rotated.insert(len(rotated) // 2, STOP_WORDS_TO_ADD[number % len(STOP_WORDS_TO_ADD)])
        queries.append(SuiteQuery(" ".join(rotated), "variant", (), (resource_id,)))
    return queries


def score(search: Search, queries: Sequence[SuiteQuery]) -> Scores:
    scores = Scores(queries=len(queries))
    expected_total = 0
    for query in queries:
        found = search(query.text)[:DEPTH]
        scores.answered += bool(found)
        expected_total += len(query.expected)
        scores.recall3 += sum(item in found[:3] for item in query.expected)
        scores.recall10 += sum(item in found for item in query.expected)
        ranks = [found.index(item) + 1 for item in query.expected if item in found]
        scores.mrr += 1 / min(ranks) if ranks else 0.0
        missed = query.misses(found)
        if missed:
            scores.misses.append((query, found))
        else:
            scores.passed += 1
    scores.recall3 /= max(expected_total, 1)
    scores.recall10 /= max(expected_total, 1)
    scores.mrr /= max(len(queries), 1)
    return scores


# -- the engines ---------------------------------------------------------------------------------------
@contextmanager
def our_search(content_dir: Path = ROOT / "content") -> Iterator[Search]:
    """The app on a fresh data folder, built by the CLI; searches go through /api/catalog/search."""
    from click.testing import CliRunner
    from starlette.testclient import TestClient

    from marketplace.app import create_app
    from marketplace.cli import main as cli
    from marketplace.settings import Settings

    with tempfile.TemporaryDirectory(prefix="relevance-") as folder:
        data_dir = Path(folder) / "var"
        environment = {
            "MARKETPLACE_DATA_DIR": str(data_dir),
            "MARKETPLACE_CONTENT_DIR": str(content_dir),
            "MARKETPLACE_ENV": "test",
            "MARKETPLACE_SECRET_KEY": "relevance-bench-" + "x" * 32,
        }
        runner = CliRunner()
        for command in (["db", "upgrade"], ["index"]):
            outcome = runner.invoke(cli, command, env=environment, catch_exceptions=False)
            if outcome.exit_code != 0:
                raise RuntimeError(f"marketplace {' '.join(command)} failed: {outcome.output}")
        settings = Settings(data_dir=data_dir, content_dir=content_dir,
                            database_url=f"sqlite:///{data_dir / 'marketplace.sqlite3'}",
                            base_url="http://127.0.0.1:8000", secret_key="y" * 40, environment="test")
        with TestClient(create_app(settings)) as client:

            def search(text: str) -> list[str]:
                response = client.get("/api/catalog/search", params={"q": text, "per_page": DEPTH})
                response.raise_for_status()
                return [hit["id"] for hit in response.json()["results"]]

            yield search


def _fts_expression(text: str) -> str | None:
    words = re.findall(r"\w+", text)
    return " OR ".join(f'"{word}"' for word in words) if words else None


@contextmanager
def fts5_search(content_dir: Path = ROOT / "content") -> Iterator[Search]:
    """A naive FTS5 search: title, description and keywords, porter stemmer, any word, bm25 order."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE fts USING fts5(id UNINDEXED, title, description, keywords, "
                       "tokenize='porter unicode61')")
    for path in sorted((content_dir / "resources").glob("*/*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        connection.execute("INSERT INTO fts VALUES (?, ?, ?, ?)",
                           (data["id"], data["title"], data["description"], " ".join(data["keywords"])))

    def search(text: str) -> list[str]:
        expression = _fts_expression(text)
        if expression is None:
            return []
        rows = connection.execute("SELECT id FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
                                  (expression, DEPTH)).fetchall()
        return [row[0] for row in rows]

    try:
        yield search
    finally:
        connection.close()


# -- report --------------------------------------------------------------------------------------------
def _row(name: str, ours: Scores, fts: Scores) -> list[str]:
    return [
        name, str(ours.queries),
        f"{ours.pass_rate:.1%} / {fts.pass_rate:.1%}",
        f"{ours.recall3:.3f} / {fts.recall3:.3f}",
        f"{ours.recall10:.3f} / {fts.recall10:.3f}",
        f"{ours.mrr:.3f} / {fts.mrr:.3f}",
        f"{ours.answered / ours.queries:.1%} / {fts.answered / fts.queries:.1%}",
    ]


def _table(rows: list[list[str]]) -> str:
    headers = ["query set", "queries", "passed (ours / FTS5)", "recall@3", "recall@10", "MRR", "answered"]
    widths = [max(len(str(row[column])) for row in [headers, *rows]) for column in range(len(headers))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [headers, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def run(show_misses: bool = False) -> dict[str, Any]:
    suite = load_suite()
    titles = catalog_titles(ROOT / "content")
    sets = {
        "suite": suite,
        **{f"suite: {category}": [query for query in suite if query.category == category]
           for category in sorted({query.category for query in suite})},
        "exact and plain titles": title_queries(titles),
        "reordered title variants": variant_queries(titles),
    }
    figures: dict[str, Any] = {}
    rows: list[list[str]] = []
    with our_search() as ours, fts5_search() as fts:
        for name, queries in sets.items():
            mine, theirs = score(ours, queries), score(fts, queries)
            rows.append(_row(name, mine, theirs))
            figures[name] = {
                engine: {"queries": result.queries, "passed": result.passed, "recall@3": result.recall3,
                         "recall@10": result.recall10, "mrr": result.mrr, "answered": result.answered}
                for engine, result in (("ours", mine), ("fts5", theirs))
            }
            if show_misses and not name.startswith("suite:"):
                for query, found in mine.misses[:40]:
                    print(f"MISS [{name}] {query.text!r}: want {query.expected} got {found[:5]}", file=sys.stderr)
    print(_table(rows))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--show-misses", action="store_true", help="print the queries our search misses")
    arguments = parser.parse_args(argv)
    os.environ.setdefault("MARKETPLACE_ENV", "test")
    figures = run(arguments.show_misses)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
