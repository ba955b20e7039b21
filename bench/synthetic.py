"""A deterministic synthetic catalog for benchmarks: Zipf-distributed vocabulary, realistic field sizes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from marketplace.catalog.licences import LICENCES
from marketplace.catalog.resource import Resource
from marketplace.catalog.vocabulary import GRADE_LEVELS, RESOURCE_TYPES, SUBJECTS

SYLLABLES = (
    "ka to ri mo na se lu vi da pe go ha ji ke la mi no pa qu re sa ti ul ve wa xe yo za bra cle dri "
    "fro gla pli sta tre vol mar ten sol cor pan ber lin dor fen gal"
).split()
VOCABULARY_SIZE = 30_000
ZIPF_EXPONENT = 1.07


def vocabulary(seed: int = 7) -> list[str]:
    """Pseudo-words of 2-4 syllables, distinct, in rank order (most frequent first)."""
    rng = random.Random(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 3, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class ZipfSampler:
    """Draws words with probability proportional to 1 / rank**s."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = words
        self.rng = rng
        weights = [1.0 / (rank**ZIPF_EXPONENT) for rank in range(1, len(words) + 1)]
        total = 0.0
        self.cumulative: list[float] = []
        for weight in weights:
            total += weight
            self.cumulative.append(total)

    def sample(self, count: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=count)


def resources(count: int, seed: int = 42) -> Iterator[Resource]:
    """`count` synthetic resources, the same ones for the same seed."""
    rng = random.Random(seed)
    sampler = ZipfSampler(vocabulary(), rng)
    subjects = list(SUBJECTS)
    grades = list(GRADE_LEVELS)
    types = list(RESOURCE_TYPES)
    licenses = list(LICENCES)
    # Roughly the bundled catalog's mix: CC BY and the public domain common, the rest rare.
    common = {"CC-BY-4.0": 30, "CC-BY-SA-4.0": 15, "LicenseRef-PDM-1.0": 12, "CC0-1.0": 8, "CC-BY-NC-SA-4.0": 8,
              "CC-BY-NC-4.0": 6}
    licence_weights = [common.get(licence_id, 1) for licence_id in licenses]
    authors = [" ".join(w.title() for w in sampler.sample(2)) for _ in range(2000)]
    for number in range(count):
        title = " ".join(sampler.sample(rng.randint(3, 8))).capitalize()
        description = " ".join(sampler.sample(rng.randint(25, 60))).capitalize() + "."
        keywords = tuple(dict.fromkeys(sampler.sample(rng.randint(4, 8))))
        first_grade = rng.randrange(len(grades))
        level_span = grades[first_grade : first_grade + rng.randint(1, 3)]
        kind = rng.choices(types, weights=(30, 10, 10, 10, 15, 10, 15))[0]
        payload: dict[str, Any] = {"url": f"https://example.org/r/{number}", "embeddable": False}
        yield Resource(
            id=f"synthetic-{number:06d}",
            title=title,
            description=description,
            subject=rng.choices(subjects, weights=range(len(subjects) + 5, 5, -1))[0],
            grade_levels=tuple(level_span),
            type=kind,
            language="en",
            keywords=keywords,
            thumbnail="thumbnails/mathematics.svg",
            author_name=rng.choice(authors),
            author_url=None,
            license_id=rng.choices(licenses, weights=licence_weights)[0],
            license_attribution="Synthetic resource for benchmarks",
            license_url=LICENCES["CC-BY-4.0"].url,
            payload=payload,
            content_hash=f"{number:064x}",
            source_path=f"resources/synthetic/synthetic-{number:06d}.toml",
        )
