"""Portfolios over real HTTP in a homework_submission launch: isolation, uploads, signed downloads, escaping."""

from __future__ import annotations

import dataclasses
import html
import re
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from marketplace.clock import utc_now
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import LtiRefusal
from marketplace.portfolio import signing
from marketplace.portfolio.content_items import submission_item
from marketplace.store.models import LaunchRow, PortfolioItemRow
from marketplace.web.services import services
from tests.lti.conftest import LtiEnvironment
from tests.lti.peer import INSTRUCTOR, LEARNER
from tests.portfolio import samples
from tests.portfolio.conftest import SMALL_LIMIT, Student, launch_page, leftover_files, page_token, rows

Launch = Callable[[str], Student]


def download_urls(partial: str) -> list[str]:
    return [html.unescape(url) for url in re.findall(r'<a href="([^"]+/portfolio/files/[^"]+)" download>', partial)]


def test_the_partial_has_the_contract_names(student: Launch) -> None:
    ada = student("student-ada")
    empty = ada.portfolio()
    assert empty.status_code == 200 and "<html" not in empty.text and "Your portfolio is empty" in empty.text
    for label, field in (("Title", "portfolio-title"), ("Link URL", "portfolio-url"), ("File", "portfolio-file")):
        assert f'<label for="{field}">{label}</label>' in empty.text
    assert ">Add to portfolio</button>" in empty.text
    assert 'hx-encoding="multipart/form-data"' in empty.text and 'hx-target="#portfolio"' in empty.text
    added = ada.add("Lab report", file=("report.pdf", samples.PDF))
    assert added.status_code == 200, added.text
    (item_id,) = re.findall(r'name="portfolio_item" value="([^"]+)"', added.text)
    assert (f'<input type="radio" name="portfolio_item" value="{item_id}" id="portfolio-item-{item_id}" '
            'form="picker-choose" checked>') in added.text
    assert f'<label for="portfolio-item-{item_id}">Lab report</label>' in added.text
    assert "Added “Lab report” to your portfolio." in added.text


def test_students_never_see_or_fetch_each_others_items(portfolio_env: LtiEnvironment, student: Launch) -> None:
    ada, bob = student("student-ada"), student("student-bob")
    assert ada.add("Ada's essay", file=("essay.txt", b"Ada's own words")).status_code == 200
    assert ada.add("Ada's link", url="https://example.org/ada").status_code == 200
    assert bob.add("Bob's note", note="Bob's own words").status_code == 200
    ada_page, bob_page = ada.portfolio().text, bob.portfolio().text
    assert "Ada's essay" in html.unescape(ada_page) and "Bob's note" not in html.unescape(ada_page)
    assert "Bob's note" in html.unescape(bob_page) and "Ada's" not in html.unescape(bob_page)
    ada_ids, bob_ids = ada.item_ids(), bob.item_ids()
    assert len(ada_ids) == 2 and len(bob_ids) == 1 and not set(ada_ids) & set(bob_ids)
    by_owner = {row.id: row.owner_sub for row in rows(portfolio_env.sessions)}
    assert {by_owner[i] for i in ada_ids} == {"student-ada"} and {by_owner[i] for i in bob_ids} == {"student-bob"}
    # Ada's own signed link works; Bob cannot turn a signature of his into one for Ada's file.
    (ada_url,) = download_urls(ada_page)
    assert portfolio_env.browser.get(ada_url).content == b"Ada's own words"
    assert bob.add("Bob's file", file=("b.txt", b"Bob's bytes")).status_code == 200
    (bob_url,) = download_urls(bob.portfolio().text)
    ada_file_id = ada_url.split("/portfolio/files/")[1].split("?")[0]
    forged = bob_url.replace(bob_url.split("/portfolio/files/")[1].split("?")[0], ada_file_id)
    assert portfolio_env.browser.get(forged).status_code == 403


def test_the_launch_decides_who_can_have_a_portfolio(portfolio_env: LtiEnvironment, student: Launch) -> None:
    assert student("student-ada").portfolio().status_code == 200
    no_token = portfolio_env.browser.get(portfolio_env.tool_url + "/lti/portfolio")
    assert no_token.status_code == 401
    teacher = launch_page(portfolio_env, "teacher-1", "link_selection", [INSTRUCTOR])
    assert teacher.status_code == 200
    refused = portfolio_env.browser.get(portfolio_env.tool_url + "/lti/portfolio",
                                        headers={"X-Launch-Token": page_token(teacher)})
    assert refused.status_code == 403 and "submit an assignment" in refused.text
    learner_elsewhere = launch_page(portfolio_env, "student-ada", "editor_button", [LEARNER])
    assert learner_elsewhere.status_code == 403  # the picker itself refuses learners outside homework


@pytest.mark.parametrize(("title", "kwargs", "status", "message"), [
    ("Setup", {"file": ("setup.exe", samples.EXE)}, 400, "“.exe” files cannot be added to a portfolio"),
    ("Photo", {"file": ("photo.png", b"this is not a png")}, 400, "does not look like a PNG file"),
    ("Empty", {"file": ("empty.pdf", b"")}, 400, "is empty"),
    ("", {"file": ("photo.png", samples.PNG)}, 400, "Give the item a title"),
    ("", {"note": "untitled"}, 400, "Give the item a title"),
    ("Nothing", {}, 400, "Add a file, a link or a note"),
    ("Both", {"url": "https://example.org", "note": "and a note"}, 400, "one thing at a time"),
    ("Script link", {"url": "javascript:alert(1)"}, 400, "full web address"),
    ("Big", {"file": ("big.txt", b"x" * (SMALL_LIMIT + 1))}, 413, "larger than 4 KB"),
    ("Huge", {"file": ("huge.txt", b"x" * (SMALL_LIMIT + 300 * 1024))}, 413, "The upload is larger than 4 KB"),
])
def test_bad_additions_get_a_sentence_and_store_nothing(portfolio_env: LtiEnvironment, student: Launch,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         title: str, kwargs: dict[str, object], status: int,
                                                         message: str) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where the form parser spools large parts
    app = portfolio_env.app
    app.state.services = dataclasses.replace(services(app), portfolio_max_upload_bytes=SMALL_LIMIT)
    ada = student("student-ada")
    response = ada.add(title, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text[:600]
    assert message in response.text and 'role="alert"' in response.text
    assert '<label for="portfolio-title">Title</label>' in response.text  # the form is still there to retry
    assert rows(portfolio_env.sessions) == []
    assert leftover_files(portfolio_env.settings.data_dir) == [] and list(spool.iterdir()) == []
    assert ada.portfolio().status_code == 200  # the connection and the launch still work


def test_the_default_limit_is_20_mb(portfolio_env: LtiEnvironment, student: Launch) -> None:
    ada = student("student-ada")
    response = ada.add("Too big", file=("big.pdf", b"%PDF-" + b"x" * (20 * 1024 * 1024)))
    assert response.status_code == 413 and "larger than 20 MB" in response.text
    assert rows(portfolio_env.sessions) == [] and leftover_files(portfolio_env.settings.data_dir) == []


def test_a_plain_form_post_works_without_htmx(portfolio_env: LtiEnvironment, student: Launch) -> None:
    ada = student("student-ada")
    page = ada.add("Field notes", note="Seen: three herons.", htmx=False, in_form=True)
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert '<form id="picker-choose" method="post"' in page.text and ">Submit selected</button>" in page.text
    assert 'name="launch_token" value="' in page.text
    refused = ada.add("", note="Untitled", htmx=False, in_form=True)
    assert refused.status_code == 400 and '<html lang="en">' in refused.text
    assert "Give the item a title" in refused.text and ">Untitled</textarea>" in refused.text  # kept to retry
    missing = portfolio_env.browser.post(portfolio_env.tool_url + "/lti/portfolio/items",
                                         data={"title": "x", "note": "y"}, files={"file": ("", b"")})
    assert missing.status_code == 401
    assert [row.title for row in rows(portfolio_env.sessions)] == ["Field notes"]


def test_signed_downloads(portfolio_env: LtiEnvironment, student: Launch) -> None:
    ada = student("student-ada")
    content = samples.PNG + b"<script>alert(1)</script>"
    assert ada.add("Chart", file=("chart.png", content)).status_code == 200
    (url,) = download_urls(ada.portfolio().text)
    browser = portfolio_env.browser
    ok = browser.get(url)
    assert ok.status_code == 200 and ok.content == content
    assert ok.headers["content-type"] == "image/png"
    assert ok.headers["content-disposition"] == 'attachment; filename="chart.png"'
    assert ok.headers["x-content-type-options"] == "nosniff" and "sandbox" in ok.headers["content-security-policy"]
    (row,) = rows(portfolio_env.sessions)
    secret = portfolio_env.settings.secret_key
    expired = signing.signed_file_url(portfolio_env.tool_url, row, secret, now=utc_now() - timedelta(days=8))
    assert browser.get(expired).status_code == 410 and "expired" in browser.get(expired).text
    item_id, _, query = url.partition("?")
    expires, signature = re.findall(r"expires=(\d+)&signature=([0-9a-f]+)", query)[0]
    tampered = [
        f"{item_id}?expires={expires}&signature={signature[::-1]}",
        f"{item_id}?expires={int(expires) + 60}&signature={signature}",
        f"{item_id}?expires={expires}",
        item_id,
        url.replace(row.id, "00000000-0000-0000-0000-000000000000"),
    ]
    for bad in tampered:
        refused = browser.get(bad)
        assert refused.status_code == 403 and "not valid" in refused.text, bad
    # Without the item there is no content hash to check a signature against: refused like a forgery.
    unknown = PortfolioItemRow(id="00000000-0000-0000-0000-000000000000", kind="file", file_sha256="a" * 64)
    assert browser.get(signing.signed_file_url(portfolio_env.tool_url, unknown, secret)).status_code == 403


@pytest.mark.parametrize("field", ["title", "note", "url"])
def test_markup_in_titles_and_notes_comes_back_inert(student: Launch, field: str) -> None:
    ada = student("student-ada")
    attack = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    if field == "url":
        added = ada.add(attack, url='https://example.org/?q="><script>alert(3)</script>')
    else:
        added = ada.add(attack if field == "title" else "Plain", note=attack)
    assert added.status_code == 200, added.text[:400]
    for partial in (added.text, ada.portfolio().text):
        assert "<script>alert" not in partial and "<img src=x" not in partial
        assert "&lt;script&gt;alert(" in partial


def launch_of(env: LtiEnvironment, sub: str) -> LaunchContext:
    with env.sessions() as session:
        row = session.scalars(select(LaunchRow).where(LaunchRow.user_sub == sub).order_by(LaunchRow.created_at.desc())
                              ).first()
        assert row is not None
        return LaunchContext.from_claims(row.id, row.claims, client_id=env.peer.client_id, platform_name="LMS")


def test_only_the_owner_can_submit_an_item(portfolio_env: LtiEnvironment, student: Launch) -> None:
    ada, bob = student("student-ada"), student("student-bob")
    assert ada.add("Ada's chart", file=("chart.png", samples.PNG)).status_code == 200
    assert ada.add("Ada's link", url="https://example.org/ada").status_code == 200
    by_title = {row.title: row.id for row in rows(portfolio_env.sessions)}
    base, secret = portfolio_env.tool_url, portfolio_env.settings.secret_key
    with portfolio_env.sessions() as session:
        chart = submission_item(session, launch_of(portfolio_env, "student-ada"), by_title["Ada's chart"], base,
                                secret, ("file", "ltiResourceLink"))
        link = submission_item(session, launch_of(portfolio_env, "student-ada"), by_title["Ada's link"], base, secret)
        for item_id in (*by_title.values(), "no-such-item"):
            with pytest.raises(LtiRefusal, match="not in your portfolio"):
                submission_item(session, launch_of(portfolio_env, "student-bob"), item_id, base, secret)
        with pytest.raises(LtiRefusal, match="accepts only ltiResourceLink"):
            submission_item(session, launch_of(portfolio_env, "student-ada"), by_title["Ada's chart"], base, secret,
                            ("ltiResourceLink",))
    assert chart["type"] == "file" and chart["title"] == "chart.png"
    assert portfolio_env.browser.get(chart["url"]).content == samples.PNG  # what Canvas's servers fetch
    assert link["custom"] == {"portfolio_item_id": by_title["Ada's link"]}
    assert bob.item_ids() == []
