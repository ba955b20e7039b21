"""The loader: every field, every kind of bad file, and the bundled catalog itself."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from marketplace.catalog.loader import load_catalog, parse_resource_file
from marketplace.catalog.vocabulary import GRADE_LEVELS, RESOURCE_TYPES
from tests.conftest import PROJECT_DIR

GOOD = """\
id = "good-one"
title = "A good resource"
description = "A description that is long enough to be useful to a teacher."
subject = "physics"
grade_levels = ["9-12", "6-8"]
type = "quiz"
language = "en"
keywords = ["force", "motion"]
thumbnail = "thumbnails/physics.svg"

[author]
name = "Editors"
url = "https://example.org"

[license]
id = "CC-BY-4.0"
attribution = "A good resource by the Editors, https://example.org, CC BY 4.0"

[payload]
max_score = 3

[[payload.questions]]
prompt = "What is a force?"
options = ["A push or pull", "A colour"]
answer = 0
points = 2

[[payload.questions]]
prompt = "Unit of force?"
options = ["Newton", "Joule", "Watt"]
answer = 0
"""


def write(content_dir: Path, name: str, text: str) -> Path:
    path = content_dir / "resources" / "physics" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_field_is_loaded(content_dir: Path) -> None:
    resource = parse_resource_file(write(content_dir, "good-one", GOOD), content_dir)
    assert resource.id == "good-one"
    assert resource.title == "A good resource"
    assert resource.subject == "physics"
    assert resource.grade_levels == ("6-8", "9-12")  # normalised to vocabulary order
    assert resource.type == "quiz" and resource.is_activity
    assert resource.language == "en"
    assert resource.keywords == ("force", "motion")
    assert resource.thumbnail == "thumbnails/physics.svg"
    assert (resource.author_name, resource.author_url) == ("Editors", "https://example.org")
    assert resource.license_id == "CC-BY-4.0" and resource.license_label == "CC BY 4.0"
    assert resource.license_url == "https://creativecommons.org/licenses/by/4.0/"
    assert resource.payload["max_score"] == 3
    assert [q["points"] for q in resource.payload["questions"]] == [2, 1]
    assert len(resource.content_hash) == 64
    assert resource.source_path == "resources/physics/good-one.toml"
    assert "answer" not in str(resource.to_public_dict()["payload"])


def test_a_question_may_have_several_right_answers(content_dir: Path) -> None:
    write(content_dir, "good-one", GOOD.replace("answer = 0\npoints = 2", "answer = [1, 0]\npoints = 2", 1))
    result = load_catalog(content_dir)
    assert not [p for p in result.problems if p.path.endswith("good-one.toml")]
    [resource] = [r for r in result.resources if r.id == "good-one"]
    assert resource.payload["questions"][0]["answers"] == [0, 1]
    assert "answers" not in str(resource.to_public_dict()["payload"])


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        (("title = \"A good resource\"", "title = \"A good resource"), 2, "invalid TOML"),
        (("language = \"en\"", "language = \"en\"\ncolour = \"red\""), 8, "unknown field 'colour'"),
        (("id = \"good-one\"", "id = \"Good One\""), 1, "lower-case letters"),
        (("id = \"good-one\"", "id = \"other-id\""), 1, "must equal the file name"),
        (("title = \"A good resource\"\n", ""), None, "title is required"),
        (("A description that is long enough to be useful to a teacher.", "Too short"), 3, "20 to 2000"),
        (("subject = \"physics\"", "subject = \"alchemy\""), 4, "unknown subject 'alchemy'"),
        (("grade_levels = [\"9-12\", \"6-8\"]", "grade_levels = [\"13\"]"), 5, "unknown grade level '13'"),
        (("grade_levels = [\"9-12\", \"6-8\"]", "grade_levels = []"), 5, "1 to 5 entries"),
        (("type = \"quiz\"", "type = \"podcast\""), 6, "unknown type 'podcast'"),
        (("language = \"en\"", "language = \"english!\""), 7, "BCP 47"),
        (("keywords = [\"force\", \"motion\"]", "keywords = [\"force\", \"Force\"]"), 8, "same entry twice"),
        (("thumbnail = \"thumbnails/physics.svg\"", "thumbnail = \"../../etc/passwd\""), 9, "thumbnail"),
        (("name = \"Editors\"", "name = \"\""), 12, "author.name is required"),
        (("url = \"https://example.org\"", "url = \"http://example.org\""), 13, "author.url"),
        (("id = \"CC-BY-4.0\"", "id = \"GPL-3.0\""), 16, "unknown licence 'GPL-3.0'"),
        (("attribution = \"A good resource by the Editors, https://example.org, CC BY 4.0\"", "attribution = \"\""),
         17, "license.attribution is required"),
        (("max_score = 3", "max_score = 4"), 20, "add up to 3"),
        (("answer = 0\npoints = 2", "answer = 5\npoints = 2"), 25, "0-based index"),
        (("answer = 0\npoints = 2", "answer = []\npoints = 2"), 25, "or a list of them"),
        (("answer = 0\npoints = 2", "answer = [1, 1]\npoints = 2"), 25, "listed twice"),
        (("options = [\"A push or pull\", \"A colour\"]", "options = [\"Only one\"]"), 24, "2 to 6"),
        (("options = [\"Newton\", \"Joule\", \"Watt\"]", "options = [\"Newton\", \"Newton\"]"), 30,
         "same option twice"),
    ],
)
def test_bad_files_are_reported_with_line_and_reason(
    content_dir: Path, change: tuple[str, str], line: int | None, reason: str
) -> None:
    old, new = change
    assert old in GOOD
    write(content_dir, "good-one", GOOD.replace(old, new, 1))
    result = load_catalog(content_dir)
    problems = [p for p in result.problems if p.path.endswith("good-one.toml")]
    assert len(problems) == 1, result.problems
    assert reason in problems[0].reason
    assert problems[0].line == line
    assert "good-one.toml" in str(problems[0])
    # The bad file never stops the others from loading.
    assert {r.id for r in result.resources} >= {"photosynthesis-basics", "fractions-pizza"}


LINK = GOOD.split("[payload]")[0].replace('type = "quiz"', 'type = "{type}"')


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        ("link", 'url = "http://insecure.example"', "https://"),
        ("link", 'url = "https://ok.example"\nembeddable = "yes"', "true or false"),
        ("html", 'html = "<p>hi</p><script>alert(1)</script>"', "<script>"),
        ("html", "html = '<p onclick=\"x()\">hi</p>'", "onclick"),
        ("html", "html = '<a href=\"javascript:alert(1)\">x</a>'", "https://"),
        ("html", "html = '<iframe src=\"http://video.example\"></iframe>'", "https://"),
        ("image", 'url = "https://img.example/a.png"\nwidth = 10\nheight = 10', "payload.alt is required"),
        ("image", 'url = "https://img.example/a.png"\nwidth = 0\nheight = 10\nalt = "x"', "width"),
        ("file", 'path = "missing.pdf"\nmedia_type = "application/pdf"', "does not exist"),
        ("file", 'path = "../../secret"\nmedia_type = "application/pdf"', "outside content/files/"),
        ("reading", 'body = "Text"\nminutes = 0', "minutes"),
        ("simulation", 'url = "https://sim.example"\nwidth = 800', "height"),
        ("quiz", "max_score = 1", "at least one"),
    ],
)
def test_payload_problems_name_the_key(content_dir: Path, kind: str, payload: str, reason: str) -> None:
    write(content_dir, "good-one", LINK.replace("{type}", kind) + "[payload]\n" + payload + "\n")
    result = load_catalog(content_dir)
    problems = [p for p in result.problems if p.path.endswith("good-one.toml")]
    assert len(problems) == 1 and reason in problems[0].reason, result.problems
    assert problems[0].line is not None and problems[0].line >= 19


def test_valid_payload_of_every_type(content_dir: Path) -> None:
    (content_dir / "files" / "sheet.csv").write_text("a,b\n1,2\n")
    payloads = {
        "link": 'url = "https://ok.example"\nembeddable = true',
        "html": "html = '<p>Hello <a href=\"https://x.example\">x</a></p><iframe src=\"https://v.example\"></iframe>'",
        "image": 'url = "https://img.example/a.png"\nwidth = 640\nheight = 480\nalt = "A cat"',
        "file": 'path = "sheet.csv"\nmedia_type = "text/csv"',
        "reading": 'body = "## Heading\\n\\nText."\nminutes = 5',
        "simulation": 'url = "https://sim.example"\nwidth = 800\nheight = 600',
    }
    for kind, payload in payloads.items():
        write(content_dir, "good-one", LINK.replace("{type}", kind) + "[payload]\n" + payload + "\n")
        resource = parse_resource_file(content_dir / "resources/physics/good-one.toml", content_dir)
        assert resource.type == kind
    assert resource.payload["width"] == 800
    file_resource = parse_resource_file(
        write(content_dir, "good-one", LINK.replace("{type}", "file") + "[payload]\n" + payloads["file"]), content_dir
    )
    assert file_resource.payload["size"] == 8 and file_resource.payload["filename"] == "sheet.csv"


def test_duplicate_ids_are_reported(content_dir: Path) -> None:
    copy = content_dir / "resources" / "other" / "photosynthesis-basics.toml"
    copy.parent.mkdir()
    copy.write_text((content_dir / "resources/biology/photosynthesis-basics.toml").read_text())
    result = load_catalog(content_dir)
    assert any("already used" in p.reason for p in result.problems)
    assert sum(r.id == "photosynthesis-basics" for r in result.resources) == 1


def test_not_utf8_is_reported(content_dir: Path) -> None:
    path = write(content_dir, "good-one", GOOD)
    path.write_bytes(GOOD.encode() + b"\xff\xfe")
    result = load_catalog(content_dir)
    assert any("UTF-8" in p.reason for p in result.problems)


def test_the_bundled_catalog_is_clean() -> None:
    content = PROJECT_DIR / "content"
    result = load_catalog(content)
    assert result.problems == []
    resources = result.resources
    assert {level for r in resources for level in r.grade_levels} == set(GRADE_LEVELS)
    assert set(Counter(r.type for r in resources)) == set(RESOURCE_TYPES)
    shipped = {path.relative_to(content / "files").as_posix() for path in (content / "files").rglob("*")
               if path.is_file()}
    referenced = {r.payload["path"] for r in resources if r.type == "file"}
    assert shipped == referenced  # every shipped file belongs to a resource, and exists
    assert all((content / "files" / path).stat().st_size > 0 for path in referenced)


def test_the_bundled_catalog_meets_the_starter_target() -> None:
    resources = load_catalog(PROJECT_DIR / "content").resources
    assert len(resources) >= 300
    assert len({r.subject for r in resources}) >= 10
    assert Counter(r.type for r in resources)["quiz"] >= 40


CREDIT = 'attribution = "A good resource by the Editors, https://example.org, CC BY 4.0"'


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        # Each missing TASL part, reported at the attribution's own line.
        ((CREDIT, 'attribution = "By the Editors, https://example.org, CC BY 4.0"'), 17,
         "does not name the title (“A good resource”)"),
        ((CREDIT, 'attribution = "A good resource, https://example.org, CC BY 4.0"'), 17,
         "does not name the author (“Editors”"),
        ((CREDIT, 'attribution = "A good resource by the Editors, CC BY 4.0"'), 17, "does not name the source"),
        ((CREDIT, 'attribution = "A good resource by the Editors, https://example.org"'), 17,
         "does not name the licence (“CC BY 4.0” or “Creative Commons Attribution 4.0 International”)"),
        ((CREDIT, 'attribution = "A good resource by the Editors, https://example.org, CC BY-NC 4.0"'), 17,
         "names CC BY-NC 4.0 but license.id is CC-BY-4.0"),
        # The licence's own id and the provenance keys.
        (('id = "CC-BY-4.0"', 'id = "CC-PDDC"'), 16, "unknown licence 'CC-PDDC'"),
        ((CREDIT, CREDIT + '\nevidence = "https://example.org/terms"'), 18, "unknown key license.evidence"),
        ((CREDIT, CREDIT + '\nevidence_url = "http://example.org/terms"\nchecked = 2026-11-30'), 18,
         "https:// page where the licence was read"),
        ((CREDIT, CREDIT + '\nevidence_url = "https://example.org/terms"\nchecked = "2026-11-30"'), 19,
         "a date written as 2026-12-05"),
        ((CREDIT, CREDIT + '\nevidence_url = "https://example.org/terms"\nchecked = 2999-01-01'), 19,
         "is in the future"),
        ((CREDIT, CREDIT + '\nevidence_url = "https://example.org/terms"'), 18, "go together"),
        ((CREDIT, CREDIT + '\nchecked = 2026-11-30'), 18, "go together"),
    ],
)
def test_licence_problems_are_reported_with_file_and_line(
    content_dir: Path, change: tuple[str, str], line: int, reason: str
) -> None:
    old, new = change
    assert old in GOOD
    write(content_dir, "good-one", GOOD.replace(old, new, 1))
    problems = [p for p in load_catalog(content_dir).problems if p.path.endswith("good-one.toml")]
    assert len(problems) == 1, problems
    assert reason in problems[0].reason
    assert str(problems[0]).startswith(f"resources/physics/good-one.toml:{line}: ")


def test_a_work_title_names_a_work_whose_title_at_its_source_differs(content_dir: Path) -> None:
    text = GOOD.replace(CREDIT, 'attribution = "Forces and Motion by the Editors, https://example.org, CC BY 4.0"\n'
                                'work_title = "Forces and Motion"')
    write(content_dir, "good-one", text)
    result = load_catalog(content_dir)
    assert not [p for p in result.problems if p.path.endswith("good-one.toml")]


def test_provenance_is_loaded(content_dir: Path) -> None:
    text = GOOD.replace(CREDIT, CREDIT + '\nevidence_url = "https://example.org/terms"\nchecked = 2026-11-30\n'
                                         'note = "The link points to the 2026 edition."')
    resource = parse_resource_file(write(content_dir, "good-one", text), content_dir)
    assert resource.license_evidence_url == "https://example.org/terms"
    assert resource.license_checked is not None and resource.license_checked.isoformat() == "2026-11-30"
    assert resource.license_note == "The link points to the 2026 edition."
    summary = resource.licence_summary()
    assert summary["checked"] == "2026-11-30" and summary["evidence_url"] == "https://example.org/terms"
    assert summary["in_plain_words"] == "Free to share and adapt, also for commercial use, with credit"


def test_every_external_bundled_resource_has_a_licence_we_know() -> None:
    result = load_catalog(PROJECT_DIR / "content")
    assert result.problems == []
    external = [r for r in result.resources if r.author_name != "LTI Marketplace Editors"]
    assert len(external) > 150
    phet = [r for r in external if "phet.colorado.edu" in str(r.payload.get("url", ""))]
    assert len(phet) >= 30 and all(r.license_id == "CC-BY-NC-4.0" for r in phet)  # relicensed in March 2026
    assert all(r.license_evidence_url and r.license_checked for r in phet)
    openstax = [r for r in external if "openstax.org" in str(r.payload.get("url", ""))]
    assert openstax and all(r.license_id == "CC-BY-NC-SA-4.0" for r in openstax)
    assert all("openstax.org/details/books/" in r.license_attribution or "openstax.org/books/" in r.license_attribution
               for r in openstax), [r.id for r in openstax]
    osm = [r for r in external if "openstreetmap.org" in str(r.payload.get("url", ""))]
    assert osm and all(r.license_id == "ODbL-1.0" for r in osm)
    khan = [r for r in external if "khanacademy.org" in str(r.payload.get("url", ""))]
    assert khan and all(r.license_id == "LicenseRef-CC-BY-NC-SA-3.0-US" for r in khan)
    assert not [r.id for r in external if r.license_id == "CC-PDDC"]


def test_parsing_in_worker_processes_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large catalog is parsed in worker processes: the same resources, problems and order as in one."""
    from marketplace.catalog import loader

    catalog = PROJECT_DIR / "content"
    alone = load_catalog(catalog, workers=1)
    monkeypatch.setattr(loader, "PARALLEL_FROM", 10)
    monkeypatch.setattr(loader, "PARSE_CHUNK", 7)  # many chunks, a short last one
    together = load_catalog(catalog, workers=2)
    assert [resource.id for resource in together.resources] == [resource.id for resource in alone.resources]
    assert together.resources == alone.resources and together.problems == alone.problems


def test_problems_and_duplicates_survive_the_worker_processes(content_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from marketplace.catalog import loader

    folder = content_dir / "resources" / "biology"
    (folder / "broken.toml").write_text('id = "broken"\ntitle = \n', encoding="utf-8")
    (content_dir / "resources" / "other").mkdir()
    (content_dir / "resources" / "other" / "plant-cells.toml").write_text(
        (folder / "plant-cells.toml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(loader, "PARALLEL_FROM", 2)
    monkeypatch.setattr(loader, "PARSE_CHUNK", 2)
    result = load_catalog(content_dir, workers=2)
    reasons = [f"{problem.path}: {problem.reason}" for problem in result.problems]
    assert any("broken.toml" in reason and "invalid TOML" in reason for reason in reasons), reasons
    assert any("already used" in reason for reason in reasons), reasons
    assert len(result.resources) == 5
