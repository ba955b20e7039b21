"""The licences the catalog accepts: SPDX ids where the SPDX licence list has one, `LicenseRef-` ids otherwise.

A licence label is a promise to a teacher, so each id carries what it lets people do, in three facts
(commercial use, adaptations, share-alike) and in plain words. The SPDX ids are checked against the SPDX
list shipped in the `license-expression` package by a test (tests/catalog/test_licences.py); the
`LicenseRef-` ids are ours, for what the list lacks: the Public Domain Mark (SPDX's `CC-PDDC` is a different,
retired tool), US-ported licences the list does not have, works of the U.S. federal government, and
source-specific permissions such as JPL's image use policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class LicenceTerms:
    """One licence: how it is named, where its text is, and what it lets people do."""

    id: str
    label: str  # short, for cards and credit lines: "CC BY-NC 4.0"
    name: str  # in full: "Creative Commons Attribution-NonCommercial 4.0 International"
    url: str
    commercial: bool  # commercial use allowed
    adaptations: bool  # adaptations (remixes, translations, edits) allowed
    share_alike: bool  # adaptations must be shared under the same terms
    public_domain: bool = False  # no copyright restrictions at all (nothing to credit by law)
    aliases: tuple[str, ...] = ()  # other ways an attribution may name it ("public domain")
    words: str = ""  # plain words when the facts alone would mislead (public domain in one country only)

    @property
    def is_spdx(self) -> bool:
        return not self.id.startswith("LicenseRef-")

    @property
    def plain_words(self) -> str:
        """What a teacher may do, in one sentence: "Free to share and adapt, not for commercial use, share alike"."""
        if self.words:
            return self.words
        if self.public_domain:
            return "No copyright restrictions: free to share and adapt for any purpose"
        parts = ["Free to share and adapt" if self.adaptations else "Free to share, no adaptations"]
        parts.append("also for commercial use" if self.commercial else "not for commercial use")
        if self.share_alike:
            parts.append("share alike")
        parts.append("with credit")
        return ", ".join(parts)

    def names(self) -> tuple[str, ...]:
        """Every way an attribution may name this licence."""
        return (self.label, self.name, *self.aliases)


def _cc(
    code: str, version: str, *, port: str = "", port_name: str = "", licence_id: str | None = None,
) -> LicenceTerms:
    """A Creative Commons licence from its code ("by-nc-sa") and version ("4.0")."""
    parts = code.split("-")
    words = {"by": "Attribution", "nc": "NonCommercial", "sa": "ShareAlike", "nd": "NoDerivatives"}
    scope = port_name or ("International" if version == "4.0" else "Unported" if version == "3.0" else "Generic")
    name = f"Creative Commons {'-'.join(words[part] for part in parts)} {version} {scope}"
    label = f"CC {code.upper()} {version}" + (f" {port.upper()}" if port else "")
    return LicenceTerms(
        id=licence_id or f"CC-{code.upper()}-{version}" + (f"-{port.upper()}" if port else ""),
        label=label,
        name=name,
        url=f"https://creativecommons.org/licenses/{code}/{version}/" + (f"{port}/" if port else ""),
        commercial="nc" not in parts,
        adaptations="nd" not in parts,
        share_alike="sa" in parts,
    )


_ALL: Final[tuple[LicenceTerms, ...]] = (
    LicenceTerms(
        "CC0-1.0", "CC0 1.0", "Creative Commons Zero v1.0 Universal",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        commercial=True, adaptations=True, share_alike=False, public_domain=True,
        aliases=("CC0", "public domain dedication"),
    ),
    LicenceTerms(
        "LicenseRef-PDM-1.0", "Public Domain Mark 1.0", "Public Domain Mark 1.0 (no known copyright)",
        "https://creativecommons.org/publicdomain/mark/1.0/",
        commercial=True, adaptations=True, share_alike=False, public_domain=True, aliases=("public domain",),
    ),
    LicenceTerms(
        "LicenseRef-US-Government-Work", "Public domain (U.S. government work)",
        "Work of the U.S. federal government, not subject to copyright in the United States (17 U.S.C. § 105)",
        "https://www.usa.gov/government-copyright",
        commercial=True, adaptations=True, share_alike=False, public_domain=True,
        aliases=("public domain", "U.S. government work"),
    ),
    LicenceTerms(
        "LicenseRef-Public-Domain-Dedication", "Public domain (dedicated by its makers)",
        "Dedicated to the public domain by its makers",
        "https://creativecommons.org/public-domain/",
        commercial=True, adaptations=True, share_alike=False, public_domain=True, aliases=("public domain",),
    ),
    _cc("by", "4.0"),
    _cc("by-sa", "4.0"),
    _cc("by-nc", "4.0"),
    _cc("by-nc-sa", "4.0"),
    _cc("by-nd", "4.0"),
    _cc("by-nc-nd", "4.0"),
    _cc("by", "3.0"),
    _cc("by-sa", "3.0"),
    _cc("by-nc", "3.0"),
    _cc("by-nc-sa", "3.0"),
    _cc("by", "3.0", port="us", port_name="United States"),
    _cc("by-nc", "3.0", port="us", port_name="United States", licence_id="LicenseRef-CC-BY-NC-3.0-US"),
    _cc("by-nc-sa", "3.0", port="us", port_name="United States", licence_id="LicenseRef-CC-BY-NC-SA-3.0-US"),
    _cc("by", "2.5"),
    _cc("by-sa", "2.5"),
    _cc("by", "2.0"),
    _cc("by-sa", "2.0"),
    LicenceTerms(
        "ODbL-1.0", "ODbL 1.0", "Open Data Commons Open Database License v1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
        commercial=True, adaptations=True, share_alike=True, aliases=("Open Database License", "ODbL"),
    ),
    LicenceTerms(
        "LicenseRef-JPL-Image-Use", "JPL image use policy", "NASA/JPL-Caltech image use policy",
        "https://www.jpl.nasa.gov/jpl-image-use-policy",
        commercial=True, adaptations=True, share_alike=False, aliases=("JPL Image Use Policy",),
        words="Free to share and adapt, also for commercial use, with credit to NASA/JPL-Caltech and no suggestion "
              "that NASA or JPL endorses it",
    ),
    LicenceTerms(
        "LicenseRef-Gutenberg-License", "Public domain in the USA (Project Gutenberg License)",
        "Public domain in the USA, distributed under the Project Gutenberg License",
        "https://www.gutenberg.org/policy/license.html",
        commercial=True, adaptations=True, share_alike=False, public_domain=True,
        aliases=("Project Gutenberg License", "public domain in the USA"),
        words="Public domain in the USA: free to share and adapt for any purpose there; elsewhere, check local law",
    ),
)

LICENCES: Final[dict[str, LicenceTerms]] = {terms.id: terms for terms in _ALL}
"""Licence id -> terms, in facet display order."""

PERMISSIONS: Final[dict[str, str]] = {
    "commercial": "Allows commercial use",
    "adaptations": "Allows adaptations",
}
"""What a teacher may filter by (the API's `allows` values), with their labels."""


def allows(terms: LicenceTerms, permission: str) -> bool:
    """Whether a licence grants one of PERMISSIONS."""
    if permission == "commercial":
        return terms.commercial
    if permission == "adaptations":
        return terms.adaptations
    raise KeyError(permission)
