"""What the words of a query ask for beyond matching text: question filler, audience and kind of resource.

Teachers type sentences ("what is photosynthesis", "worksheet about the civil war for high school").
Requiring every such word would answer nothing, and dropping them would throw away what they say. So the
parser treats these words as optional (they add to the score where a resource contains them) and turns
audience words into a grade-level hint and material words into a type hint, which the ranking uses to put
fitting resources first. A query made only of them ("a quiz", "for kids") asks for the kind or the
audience itself, and then they match resources of that type or grade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that frame a question or a request rather than name a topic (folded surface forms).
FILLER_WORDS = frozenset(
    """what whats how why when where who whom whose which does do did can could should would i me my we our
    you your explain explaining explained describe describing define defining definition definitions meaning
    teach teaching taught learn learning understand understanding show showing find need want looking
    lesson lessons plan plans activity activities resource resources material materials unit units idea ideas
    about student students class classes classroom teacher teachers some good best great free fun easy simple
    introduce introducing help""".split()
)

# Words naming a kind of resource: optional words that steer the type facet's ranking.
TYPE_WORDS: dict[str, tuple[str, ...]] = {
    # Only words that name a kind of material and hardly ever a topic: "map", "reading", "data" and
    # "painting" are topics in this catalog and stay ordinary words.
    **dict.fromkeys(("quiz", "quizzes", "test", "tests", "assessment", "assessments"), ("quiz",)),
    **dict.fromkeys(("simulation", "simulations", "sim", "sims", "interactive", "interactives"), ("simulation",)),
    **dict.fromkeys(("image", "images", "picture", "pictures", "photo", "photos", "photograph", "photographs"),
                    ("image",)),
    **dict.fromkeys(("article", "articles", "passage", "passages"), ("reading",)),
    **dict.fromkeys(("worksheet", "worksheets", "handout", "handouts", "printable", "printables", "pdf", "pdfs",
                     "dataset", "datasets", "csv", "spreadsheet"), ("file",)),
    **dict.fromkeys(("video", "videos"), ("html",)),
    **dict.fromkeys(("website", "websites"), ("link",)),
}

# Words naming a subject: they also match every resource of that subject ("cell biology" finds a cell quiz
# filed under biology that never says "biology") and steer the ranking toward it.
SUBJECT_WORDS: dict[str, str] = {
    "math": "mathematics", "maths": "mathematics", "mathematics": "mathematics",
    "physics": "physics", "chemistry": "chemistry", "biology": "biology",
    "history": "history", "geography": "geography", "economics": "economics",
    "art": "arts", "arts": "arts", "music": "arts",
    "programming": "computer-science", "coding": "computer-science",
}

K2, G35, G68, G912, HIGHER = "k-2", "3-5", "6-8", "9-12", "higher-ed"

# Audience phrases, longest first; matched on the folded text outside quotes.
_AUDIENCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"k\s*-\s*12", ()),
    (r"(?:pre\s*-?\s*)?k(?:indergarten)?\s*-\s*2|kindergarten|kindergartners?|pre\s*-?\s*k", (K2,)),
    (r"(?:1st|2nd|first|second)\s+grade(?:rs?)?|grades?\s+(?:k|1|2|one|two)(?:\s*(?:-|to|and)\s*[12])?", (K2,)),
    (r"(?:3rd|4th|5th|third|fourth|fifth)\s+grade(?:rs?)?|grades?\s+(?:3|4|5)(?:\s*(?:-|to|and)\s*[345])?|3\s*-\s*5",
     (G35,)),
    (r"(?:6th|7th|8th|sixth|seventh|eighth)\s+grade(?:rs?)?|grades?\s+(?:6|7|8)(?:\s*(?:-|to|and)\s*[678])?"
     r"|6\s*-\s*8|middle\s+school(?:ers?)?|junior\s+high|tweens?", (G68,)),
    (r"(?:9th|10th|11th|12th|ninth|tenth|eleventh|twelfth)\s+grade(?:rs?)?"
     r"|grades?\s+(?:9|10|11|12)(?:\s*(?:-|to|and)\s*(?:9|10|11|12))?|9\s*-\s*12"
     r"|high\s+school(?:ers?)?|secondary\s+school|teens?|teenagers?|ap", (G912,)),
    (r"higher\s+ed(?:ucation)?|college|colleges|university|universities|undergrad(?:uate)?s?|grad\s+students?"
     r"|graduate\s+students?|adults?|freshman\s+year", (HIGHER,)),
    (r"elementary(?:\s+school)?|primary(?:\s+school)?|young\s+(?:kids|children|learners)", (K2, G35)),
    (r"kids|children|little\s+ones", (K2, G35)),
)
_AUDIENCE_PATTERN = re.compile(
    "|".join(f"(?P<a{number}>(?<![\\w-])(?:{pattern})(?![\\w-]))" for number, (pattern, _) in enumerate(_AUDIENCE)),
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Audience:
    """One audience phrase found in a query: where it was, what it said and the grade levels it names."""

    start: int
    end: int
    text: str
    grades: tuple[str, ...]


def find_audiences(text: str) -> list[Audience]:
    """Audience phrases in `text` (not inside quotes), in order."""
    found: list[Audience] = []
    quoted = _quoted_spans(text)
    for match in _AUDIENCE_PATTERN.finditer(text):
        if any(start <= match.start() < end for start, end in quoted):
            continue
        group = match.lastgroup
        assert group is not None  # noqa: S101 - every alternative is a named group
        found.append(Audience(match.start(), match.end(), match.group(0), _AUDIENCE[int(group[1:])][1]))
    return found


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for position, char in enumerate(text):
        if char == '"':
            if start is None:
                start = position
            else:
                spans.append((start, position + 1))
                start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def is_filler(word: str) -> bool:
    """Whether a folded word frames the query rather than names its topic."""
    return word in FILLER_WORDS


def subject_hint(word: str) -> tuple[str, ...]:
    """The subject a folded word names ("maths" -> mathematics), or ()."""
    subject = SUBJECT_WORDS.get(word)
    return (subject,) if subject else ()


def type_hint(word: str) -> tuple[str, ...]:
    """The resource types a folded word names ("quiz" -> quiz), or ()."""
    return TYPE_WORDS.get(word, ())
