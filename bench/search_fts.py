"""The baseline the search is measured against: SQLite FTS5 over the same catalog, with BM25 weights per field
and facet counts by SQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.search_queries import FACET_VALUES, FACETS, BenchQuery
from marketplace.catalog.resource import Resource

FTS_WEIGHTS = "3.0, 2.0, 1.0, 1.0"  # title, keywords, description, author


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
