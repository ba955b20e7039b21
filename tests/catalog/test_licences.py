"""The licence vocabulary against the SPDX licence list, and what each licence tells a teacher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import license_expression
import pytest

from marketplace.catalog.attribution import check_credit
from marketplace.catalog.licences import LICENCES, PERMISSIONS, allows

SPDX_INDEX = Path(license_expression.__file__).parent / "data" / "scancode-licensedb-index.json"


@pytest.fixture(scope="module")
def spdx() -> dict[str, dict[str, Any]]:
    """SPDX id -> its entry in the licence database shipped with `license-expression`."""
    entries = json.loads(SPDX_INDEX.read_text(encoding="utf-8"))
    known: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for key in (entry.get("spdx_license_key"), *entry.get("other_spdx_license_keys", [])):
            if key:
                known[key] = entry
    return known


def test_every_spdx_id_is_on_the_spdx_list_and_current(spdx: dict[str, dict[str, Any]]) -> None:
    spdx_ids = [licence_id for licence_id, terms in LICENCES.items() if terms.is_spdx]
    assert len(spdx_ids) >= 15
    for licence_id in spdx_ids:
        assert licence_id in spdx, f"{licence_id} is not an SPDX id"
        assert spdx[licence_id]["spdx_license_key"] == licence_id, f"{licence_id} is only an alias"
        assert not spdx[licence_id]["is_deprecated"], f"{licence_id} is deprecated"


def test_our_own_ids_are_for_what_the_list_lacks(spdx: dict[str, dict[str, Any]]) -> None:
    own = [licence_id for licence_id, terms in LICENCES.items() if not terms.is_spdx]
    assert {"LicenseRef-PDM-1.0", "LicenseRef-CC-BY-NC-SA-3.0-US", "LicenseRef-JPL-Image-Use"} <= set(own)
    for licence_id in own:
        assert licence_id.startswith("LicenseRef-")
        assert licence_id.removeprefix("LicenseRef-") not in spdx, f"{licence_id} has an SPDX id: use it"
    # SPDX's CC-PDDC is the retired Public Domain Dedication and Certification, not the Public Domain Mark.
    assert "CC-PDDC" not in LICENCES
    assert "CC-PDDC" in spdx
    assert LICENCES["LicenseRef-PDM-1.0"].url == "https://creativecommons.org/publicdomain/mark/1.0/"


def test_ids_fit_the_database_column() -> None:
    assert max(len(licence_id) for licence_id in LICENCES) <= 40  # resources.license_id is String(40)


@pytest.mark.parametrize(
    ("licence_id", "commercial", "adaptations", "share_alike", "words"),
    [
        ("CC-BY-4.0", True, True, False, "Free to share and adapt, also for commercial use, with credit"),
        ("CC-BY-NC-SA-4.0", False, True, True, "Free to share and adapt, not for commercial use, share alike, "
                                               "with credit"),
        ("CC-BY-NC-4.0", False, True, False, "Free to share and adapt, not for commercial use, with credit"),
        ("CC-BY-ND-4.0", True, False, False, "Free to share, no adaptations, also for commercial use, with credit"),
        ("ODbL-1.0", True, True, True, "Free to share and adapt, also for commercial use, share alike, with credit"),
        ("LicenseRef-PDM-1.0", True, True, False, "No copyright restrictions: free to share and adapt for any "
                                                  "purpose"),
        ("LicenseRef-CC-BY-NC-SA-3.0-US", False, True, True, "Free to share and adapt, not for commercial use, "
                                                             "share alike, with credit"),
    ],
)
def test_each_licence_says_what_a_teacher_may_do(licence_id: str, commercial: bool, adaptations: bool,
                                                 share_alike: bool, words: str) -> None:
    terms = LICENCES[licence_id]
    assert (terms.commercial, terms.adaptations, terms.share_alike) == (commercial, adaptations, share_alike)
    assert allows(terms, "commercial") is commercial and allows(terms, "adaptations") is adaptations
    assert terms.plain_words == words
    assert terms.url.startswith("https://") and terms.name and terms.label


def test_the_us_ported_licences_are_named_as_such() -> None:
    terms = LICENCES["LicenseRef-CC-BY-NC-SA-3.0-US"]
    assert terms.label == "CC BY-NC-SA 3.0 US"
    assert terms.name == "Creative Commons Attribution-NonCommercial-ShareAlike 3.0 United States"
    assert terms.url == "https://creativecommons.org/licenses/by-nc-sa/3.0/us/"
    assert LICENCES["CC-BY-NC-SA-3.0"].url == "https://creativecommons.org/licenses/by-nc-sa/3.0/"


def test_permissions_are_the_two_filters() -> None:
    assert PERMISSIONS == {"commercial": "Allows commercial use", "adaptations": "Allows adaptations"}
    with pytest.raises(KeyError):
        allows(LICENCES["CC-BY-4.0"], "resale")


@pytest.mark.parametrize(
    ("attribution", "problem"),
    [
        ("“Gravity” by Ada Author, https://example.org/g1, CC BY 4.0", None),
        ("GRAVITY — ada author (example.org/g1) — Creative Commons Attribution 4.0 International", None),
        ("by Ada Author, https://example.org/g1, CC BY 4.0", "does not name the title"),
        ("“Gravity”, https://example.org/g1, CC BY 4.0", "does not name the author"),
        ("“Gravity” by Ada Author, CC BY 4.0", "does not name the source"),
        ("“Gravity” by Ada Author, https://example.org/g1", "does not name the licence"),
        ("“Gravity” by Ada Author, https://example.org/g1, CC BY 3.0 US", "names CC BY 3.0 US"),
    ],
)
def test_a_credit_line_names_title_author_source_and_its_own_licence(attribution: str, problem: str | None) -> None:
    problems = check_credit(attribution, titles=("Gravity",), author="Ada Author", licence=LICENCES["CC-BY-4.0"])
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0].reason, problems


def test_an_unported_id_with_a_us_credit_line_is_a_contradiction() -> None:
    problems = check_credit("“Algebra” by Khan Academy, khanacademy.org, CC BY-NC-SA 3.0 US", titles=("Algebra",),
                            author="Khan Academy", licence=LICENCES["CC-BY-NC-SA-3.0"])
    assert [p.reason for p in problems] == [
        "license.attribution names CC BY-NC-SA 3.0 US but license.id is CC-BY-NC-SA-3.0 (CC BY-NC-SA 3.0); "
        "make them agree"]
    assert check_credit("“Algebra” by Khan Academy, khanacademy.org, CC BY-NC-SA 3.0 US", titles=("Algebra",),
                        author="Khan Academy", licence=LICENCES["LicenseRef-CC-BY-NC-SA-3.0-US"]) == []


def test_the_catalog_readme_lists_every_licence_with_its_facts() -> None:
    readme = (Path(__file__).resolve().parents[2] / "content" / "README.md").read_text(encoding="utf-8")
    for terms in LICENCES.values():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{terms.id}` |")), None)
        assert row is not None, f"{terms.id} is missing from content/README.md"
        assert terms.plain_words in row and terms.url in row
