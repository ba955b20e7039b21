"""The operator's page over HTTP: a 403 with a sign-in form for everyone without the secret, actions refused
without the page's anti-CSRF value, and each action doing what it says (pending platforms and deployments,
key rotation, the catalog re-index with its progress, recent refusals)."""

from __future__ import annotations

import dataclasses
import html
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from marketplace import operator
from marketplace.app import create_app
from marketplace.catalog.sync import ContentReport
from marketplace.clock import utc_now
from marketplace.lti.keys import key_statuses
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory
from marketplace.store.models import DeploymentRow, PlatformRow, ReindexRunRow
from marketplace.store.registrations import PENDING, add_deployment, add_platform
from marketplace.web.services import services
from tests.conftest import prepare_app_data, write_resource

SECRET = "a" * 40


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    prepare_app_data(settings)
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        pending = add_platform(session, issuer="https://new.example.edu", client_id="c-1", name="New LMS",
                               auth_login_url="https://new.example.edu/auth", auth_token_url="https://new.example.edu/t",
                               key_set_url="https://new.example.edu/jwks", status=PENDING)
        add_deployment(session, pending, "d-1", status=PENDING)
        active = add_platform(session, issuer="https://canvas.example.edu", client_id="c-2", name="Canvas",
                              auth_login_url="https://canvas.example.edu/auth",
                              auth_token_url="https://canvas.example.edu/t", key_set_url="https://canvas.example.edu/j")
        add_deployment(session, active, "d-2", status=PENDING)
        session.commit()
    engine.dispose()
    with TestClient(create_app(dataclasses.replace(settings, admin_token=SECRET))) as test_client:
        yield test_client


def sign_in(client: TestClient) -> str:
    response = client.post("/admin/sign-in", data={"secret": SECRET}, follow_redirects=False)
    assert response.status_code == 303 and "HttpOnly" in response.headers["set-cookie"]
    page = client.get("/admin")
    assert page.status_code == 200
    return csrf_of(page.text)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def statuses(client: TestClient) -> dict[str, str]:
    with services(client.app).sessions() as session:  # type: ignore[arg-type]
        rows = {f"platform {row.name}": row.status for row in session.scalars(select(PlatformRow))}
        rows.update({f"deployment {row.deployment_id}": row.status for row in session.scalars(select(DeploymentRow))})
        return rows


def ids(client: TestClient) -> dict[str, int]:
    with services(client.app).sessions() as session:  # type: ignore[arg-type]
        found = {row.name: row.id for row in session.scalars(select(PlatformRow))}
        found.update({row.deployment_id: row.id for row in session.scalars(select(DeploymentRow))})
        return found


def test_everyone_without_the_secret_gets_a_403_and_a_sign_in_form(client: TestClient) -> None:
    page = client.get("/admin")
    assert page.status_code == 403 and "Administrator secret" in page.text and "New LMS" not in page.text
    wrong = client.post("/admin/sign-in", data={"secret": "b" * 40})
    assert wrong.status_code == 403 and "not the administrator secret" in wrong.text
    client.cookies.set("mkt_admin", "eyJhbGciOiJIUzI1NiJ9.e30.x", path="/admin")
    assert client.get("/admin").status_code == 403
    client.cookies.clear()
    action = client.post(f"/admin/platforms/{ids(client)['New LMS']}/approve", data={"csrf": "x"})
    assert action.status_code == 403 and statuses(client)["platform New LMS"] == "pending"


def test_actions_need_the_pages_anti_csrf_value(client: TestClient) -> None:
    sign_in(client)
    target = f"/admin/platforms/{ids(client)['New LMS']}/approve"
    for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}):
        refused = client.post(target, data=data)
        assert refused.status_code == 403 and "out of date" in refused.text
    assert statuses(client)["platform New LMS"] == "pending"


def test_pending_platforms_and_deployments_are_approved_or_retired(client: TestClient) -> None:
    csrf = sign_in(client)
    page = client.get("/admin").text
    assert "Approve New LMS" in page and "Retire deployment d-2" in page
    found = ids(client)
    # A deployment of a platform still pending waits for the platform.
    early = client.post(f"/admin/deployments/{found['d-1']}/approve", data={"csrf": csrf})
    assert early.status_code == 409 and "Approve the platform New LMS first" in early.text
    approved = client.post(f"/admin/platforms/{found['New LMS']}/approve", data={"csrf": csrf})
    assert approved.status_code == 200 and "Approved New LMS" in approved.text  # the notice after the redirect
    assert statuses(client)["platform New LMS"] == "active" and statuses(client)["deployment d-1"] == "active"
    retired = client.post(f"/admin/deployments/{found['d-2']}/retire", data={"csrf": csrf})
    assert "Retired the pending deployment d-2" in retired.text and "deployment d-2" not in statuses(client)
    again = client.post(f"/admin/platforms/{found['New LMS']}/retire", data={"csrf": csrf})
    assert again.status_code == 409 and "already approved" in again.text  # an active platform is not retired here
    assert client.post(f"/admin/platforms/{found['New LMS']}/explode", data={"csrf": csrf}).status_code == 404


def test_keys_rotate_from_the_page(client: TestClient) -> None:
    csrf = sign_in(client)
    with services(client.app).sessions() as session:  # type: ignore[arg-type]
        before = {status.role: status.kid for status in key_statuses(session)}
    rotated = client.post("/admin/keys/rotate", data={"csrf": csrf})
    assert rotated.status_code == 200 and "Rotated the keys" in rotated.text
    with services(client.app).sessions() as session:  # type: ignore[arg-type]
        after = {status.role: status.kid for status in key_statuses(session)}
    assert after["active"] == before["next"] and after["previous"] == before["active"]


def test_the_catalog_re_indexes_with_progress(client: TestClient, settings: Settings) -> None:
    csrf = sign_in(client)
    write_resource(settings.content_dir / "resources" / "biology", "zebrafish", title="Zebrafish fins",
                   subject="biology", description="How zebrafish grow their fins back after an injury.",
                   keywords=("regeneration",), grades=("9-12",))
    started = client.post("/admin/catalog/reindex", data={"csrf": csrf})
    assert started.status_code == 200 and "Re-indexing started" in started.text
    deadline = time.monotonic() + 30
    while "Re-index: done" not in (progress := client.get("/admin/catalog/progress").text):
        assert "failed" not in progress and time.monotonic() < deadline, progress
        time.sleep(0.1)
    assert 'value="100"' in progress and "1 added" in progress
    # The new resource came as a segment of its own (a re-index merges none), and nothing was replaced.
    page = html.unescape(client.get("/admin").text)
    assert "6 resources in this host's index, in 2 segments; 0 replaced or removed documents left for " \
           "compaction." in page
    assert client.get("/api/catalog/search", params={"q": "zebrafish"}).json()["total"] == 1


def test_a_re_index_is_one_run_that_every_worker_and_host_shows(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two hosts (or two workers) on one database: a re-index started on one is shown by the other's progress
    poll (the page's poll may reach either), a second start on the other is refused while it runs, and a run
    whose process died is shown as stopped, after which a new one may start."""
    shared = dataclasses.replace(settings, database_url=database_url, admin_token=SECRET)
    prepare_app_data(shared)
    other_host = dataclasses.replace(shared, data_dir=tmp_path / "other-host")
    write_resource(settings.content_dir / "resources" / "biology", "zebrafish", title="Zebrafish fins",
                   subject="biology", description="How zebrafish grow their fins back after an injury.",
                   keywords=("regeneration",), grades=("9-12",))
    reading, release = threading.Event(), threading.Event()
    load_content = operator.load_content

    def held(session: Session, content_dir: Path) -> ContentReport:
        reading.set()
        assert release.wait(30)
        return load_content(session, content_dir)

    monkeypatch.setattr(operator, "load_content", held)
    with TestClient(create_app(shared)) as first, TestClient(create_app(other_host)) as second:
        csrf_first, csrf_second = sign_in(first), sign_in(second)
        assert "Re-index:" not in second.get("/admin/catalog/progress").text  # nothing ran yet
        assert "Re-indexing started" in first.post("/admin/catalog/reindex", data={"csrf": csrf_first}).text
        assert reading.wait(10)
        shown = second.get("/admin/catalog/progress").text
        assert "Re-index: reading" in shown and 'hx-trigger="every 1s"' in shown, shown
        assert f"(process {os.getpid()})" in shown
        refused = second.post("/admin/catalog/reindex", data={"csrf": csrf_second})
        assert refused.status_code == 409 and "already running" in refused.text
        release.set()
        deadline = time.monotonic() + 30
        while "Re-index: done" not in (progress := second.get("/admin/catalog/progress").text):
            assert "failed" not in progress and time.monotonic() < deadline, progress
            time.sleep(0.1)
        assert 'value="100"' in progress and "1 added" in progress and "every 1s" not in progress

        engine = make_engine(database_url)  # a run whose process died in the middle of indexing
        with engine.begin() as connection:
            connection.execute(update(ReindexRunRow).values(phase="indexing",
                                                            updated_at=utc_now() - timedelta(minutes=16)))
        engine.dispose()
        assert "stopped without finishing" in first.get("/admin/catalog/progress").text
        assert "Re-indexing started" in second.post("/admin/catalog/reindex", data={"csrf": csrf_second}).text
        while "Re-index: done" not in (progress := first.get("/admin/catalog/progress").text):
            assert "failed" not in progress and time.monotonic() < deadline, progress
            time.sleep(0.1)
        assert "0 added" in progress
        late = operator.Reindex()  # the run taken for dead finishes after all: it leaves the new run's row alone
        late._run_of = ("ghost-host (process 1)", utc_now() - timedelta(minutes=20))
        late._record(services(first.app).sessions, phase="failed", message="finished late")  # type: ignore[arg-type]
        assert "Re-index: done" in (shown := first.get("/admin/catalog/progress").text) and "late" not in shown


def test_a_re_index_starts_when_its_row_is_missing(client: TestClient) -> None:
    """The migration makes the run's one row; without it (a schema made by create_all, or the row deleted by
    hand) the first start makes it, rather than refusing as if a run were going."""
    csrf = sign_in(client)
    with services(client.app).sessions() as session:  # type: ignore[arg-type]
        session.execute(delete(ReindexRunRow))
        session.commit()
    assert "Re-index:" not in client.get("/admin/catalog/progress").text
    assert "Re-indexing started" in client.post("/admin/catalog/reindex", data={"csrf": csrf}).text
    deadline = time.monotonic() + 30
    while "Re-index: done" not in (progress := client.get("/admin/catalog/progress").text):
        assert "failed" not in progress and time.monotonic() < deadline, progress
        time.sleep(0.1)


def test_recent_launch_refusals_are_listed_with_their_reasons(client: TestClient) -> None:
    refused = client.post("/lti/launch", data={"id_token": "not-a-jwt", "state": "s"})
    reference = re.search(r"reference ([0-9a-f]{12})", refused.text)
    assert refused.status_code >= 400 and reference and refused.headers["x-lti-check"]
    sign_in(client)
    page = client.get("/admin").text
    assert reference.group(1) in page and refused.headers["x-lti-check"] in page
    assert "not-a-jwt" not in page  # the reason, never the token
    client.post("/admin/sign-out")
    assert client.get("/admin").status_code == 403


def test_changing_the_admin_secret_signs_everyone_out(client: TestClient, settings: Settings) -> None:
    sign_in(client)
    app = client.app
    state = services(app)  # type: ignore[arg-type]
    app.state.services = dataclasses.replace(  # type: ignore[attr-defined]
        state, settings=dataclasses.replace(state.settings, admin_token="n" * 40))
    assert client.get("/admin").status_code == 403
