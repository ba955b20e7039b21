"""The contract with Whoosh's private internals: an upgrade that changes one fails here, by name.

catalog/whoosh_internals.py is the only module that touches them; these tests exercise each of its functions
on a real index of the pinned release and check the version itself.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.fields import ID, TEXT, Schema
from whoosh.writing import SegmentWriter

from marketplace.catalog import whoosh_internals
from marketplace.catalog.postings import read_postings


def test_the_installed_whoosh_is_the_pinned_one() -> None:
    assert version("whoosh-reloaded") == whoosh_internals.PINNED_VERSION, (
        "whoosh-reloaded changed: re-read every private name in catalog/whoosh_internals.py against the new "
        "release, then update PINNED_VERSION and the pin in pyproject.toml")
    pinned = [line for line in (Path(__file__).parents[2] / "pyproject.toml").read_text().splitlines()
              if "whoosh-reloaded" in line and not line.strip().startswith("#")]
    assert pinned == [f'    "whoosh-reloaded=={whoosh_internals.PINNED_VERSION}",']


def _index(tmp_path: Path, documents: int) -> whoosh_index.Index:
    ix = whoosh_index.create_in(str(tmp_path), Schema(id=ID(stored=True), body=TEXT))
    writer = ix.writer()
    for number in range(documents):
        writer.add_document(id=str(number), body="leaf green" if number % 3 else "leaf")
    writer.commit()
    return ix


def test_posting_blocks_and_term_table(tmp_path: Path) -> None:
    ix = _index(tmp_path, 500)  # several posting blocks for "leaf"
    with ix.searcher() as searcher:
        reader = searcher.reader()
        terms = whoosh_internals.term_table(reader)
        assert terms is not None, "reader._terms is gone"
        key = ("body", reader.schema["body"].to_bytes("leaf"))
        matcher = terms.matcher(key[0], key[1], reader.schema["body"].format)
        assert whoosh_internals.is_block_matcher(matcher), "the whoosh3 leaf matcher class changed"
        blocks = list(whoosh_internals.posting_blocks(matcher))
        assert len(blocks) > 1
        ids = np.concatenate([np.asarray(raw, dtype=np.int64) if absolute else np.cumsum(raw)
                              for raw, _, absolute in blocks])
        assert sorted(ids.tolist()) == list(range(500))
        # The block path and the public path agree.
        fast, _ = read_postings(searcher, "body", "green")
        slow, _ = read_postings(searcher, "body", "green", use_blocks=False)
        assert fast.tolist() == slow.tolist() == [n for n in range(500) if n % 3]


def test_lengths_column(tmp_path: Path) -> None:
    ix = _index(tmp_path, 10)
    with ix.searcher() as searcher:
        per_document = whoosh_internals.per_document_reader(searcher.reader())
        column = whoosh_internals.length_column_bytes(per_document, "body")
        assert column is not None and len(column) == 10
        assert [searcher.reader().doc_field_length(n, "body") > 0 for n in range(10)] == [True] * 10


def test_segments_from_workers_commit_through_the_parent(tmp_path: Path) -> None:
    ix = whoosh_index.create_in(str(tmp_path), Schema(id=ID(stored=True), body=TEXT))
    parent = SegmentWriter(ix)
    segments = []
    for part in range(2):
        worker = SegmentWriter(ix, _lk=False)
        worker.add_document(id=f"doc-{part}", body="leaf")
        segments.append(whoosh_internals.finalize_segment(worker))
    whoosh_internals.commit_segments(parent, segments)
    with whoosh_index.open_dir(str(tmp_path)).searcher() as searcher:
        assert searcher.doc_count() == 2


def test_cancel_and_remove_segment(tmp_path: Path) -> None:
    ix = _index(tmp_path, 20)
    committed = sorted(item.name for item in tmp_path.iterdir())
    writer = SegmentWriter(ix)
    writer.add_document(id="new", body="leaf")
    whoosh_internals.cancel_and_remove_segment(writer)
    assert sorted(item.name for item in tmp_path.iterdir()) == committed
    again = ix.writer()  # the lock was released
    again.add_document(id="later", body="green")
    again.commit()
    assert ix.doc_count() == 21
