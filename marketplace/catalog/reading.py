"""A reading's body as structured blocks (heading, paragraph, list) for templates to render escaped.

The catalog's reading format is deliberately tiny (blank-line paragraphs, `## ` headings, `- ` lists), so
parsing it by hand is shorter than configuring a Markdown library and sanitising its HTML afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list"]


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    lines: tuple[str, ...]


def _line_kind(line: str) -> BlockKind:
    if line.startswith("## "):
        return "heading"
    return "list" if line.startswith("- ") else "paragraph"


def reading_blocks(body: str) -> list[Block]:
    """Split a reading body into headings, paragraphs (keeping single line breaks, e.g. poems) and lists."""
    blocks: list[Block] = []
    for chunk in body.replace("\r\n", "\n").split("\n\n"):
        current: BlockKind | None = None
        lines: list[str] = []
        for raw in chunk.split("\n"):
            line = raw.strip()
            if not line:
                continue
            kind = _line_kind(line)
            text = line[3:].strip() if kind == "heading" else line[2:].strip() if kind == "list" else line
            if kind != current or kind == "heading":
                if current is not None:
                    blocks.append(Block(current, tuple(lines)))
                current, lines = kind, []
            lines.append(text)
        if current is not None:
            blocks.append(Block(current, tuple(lines)))
    return blocks
