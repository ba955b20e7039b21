"""Checking a credit line: it must name title, author, source and licence (TASL), and no other licence.

Creative Commons and most open-licence sources ask reusers for exactly these four parts; a credit line that
lacks one is the most common way an OER catalog breaks the licences it relies on. The check is deliberately
lenient about form (case, accents, quotes and punctuation are ignored, the parts may come in any order) and
strict about substance: each part must be there, and the licence named must be the entry's own (a line saying
"CC BY-NC-SA 3.0 US" on an entry labelled unported 3.0 is a contradiction a teacher cannot resolve).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from marketplace.catalog.licences import LICENCES, LicenceTerms

OWN_SOURCE = "LTI Marketplace"
"""The source named by works published in the catalog itself (they have no other home on the web)."""

_WEB_ADDRESS = re.compile(r"https?://\S+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/\S*)?", re.IGNORECASE)


_WORD = re.compile(r"[^\W_]+")


def folded(text: str) -> str:
    """Lower case, no accents, words separated by single spaces, padded: " cc by nc 4 0 "."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if not decomposed.isascii():  # only non-ASCII text can carry combining marks
        decomposed = "".join(character for character in decomposed if not unicodedata.combining(character))
    return " " + " ".join(_WORD.findall(decomposed)) + " "


@functools.cache
def _licence_phrases() -> tuple[tuple[str, LicenceTerms], ...]:
    """Every licence's label and name, folded once: a catalog of 100,000 files checked each against all."""
    return tuple((folded(name), terms) for terms in LICENCES.values() for name in (terms.label, terms.name))


@dataclass(frozen=True, slots=True)
class CreditProblem:
    """What is wrong with a credit line, as a sentence for the catalog editor."""

    reason: str


def check_credit(
    attribution: str, *, titles: tuple[str, ...], author: str, licence: LicenceTerms,
) -> list[CreditProblem]:
    """Every TASL part the attribution fails to name, and any other licence it names instead."""
    problems: list[CreditProblem] = []
    line = folded(attribution)  # once, not once per phrase looked for

    def names(phrase: str) -> bool:
        wanted = folded(phrase)
        return wanted.strip() != "" and wanted in line

    if not any(names(title) for title in titles if title):
        quoted = " or ".join(f"“{title}”" for title in titles if title)
        problems.append(CreditProblem(
            f"license.attribution does not name the title ({quoted}); add it, or set license.work_title to "
            "the work's own title at its source"))
    if not names(author):
        problems.append(CreditProblem(
            f"license.attribution does not name the author (“{author}”, as in [author] name)"))
    if not _WEB_ADDRESS.search(attribution) and not names(OWN_SOURCE):
        problems.append(CreditProblem(
            "license.attribution does not name the source: add the web address of the work at its source "
            f"(or “{OWN_SOURCE}” for works published here)"))
    other = other_licence_named(attribution, licence)
    if other is not None:
        problems.append(CreditProblem(
            f"license.attribution names {other.label} but license.id is {licence.id} ({licence.label}); "
            "make them agree"))
    elif not any(names(name) for name in licence.names()):
        problems.append(CreditProblem(
            f"license.attribution does not name the licence (“{licence.label}” or “{licence.name}”)"))
    return problems


def other_licence_named(attribution: str, licence: LicenceTerms) -> LicenceTerms | None:
    """A different licence the line names more precisely than it names its own ("CC BY 3.0 US" contains "CC BY 3.0")."""
    text = folded(attribution)
    matches = [(phrase, terms) for phrase, terms in _licence_phrases() if phrase in text]
    # A match inside a longer match is not a naming of its own: "cc by 3 0" inside "cc by 3 0 us".
    standing = [(phrase, terms) for phrase, terms in matches
                if not any(phrase != longer and phrase in longer for longer, _ in matches)]
    for _, terms in standing:
        if terms.id != licence.id:
            return terms
    return None
