"""Two requests storing the same thing at once: the one whose insert comes second gets the answer for a
duplicate, never a 500, and the first one's record stays.

Each test has a competitor store the same row a moment before the request's own flush (a `before_flush`
hook), which is where a real race surfaces: in the flush a handler runs on the way, not only in the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.lti.dynamic_registration import DynamicRegistrationError, RegisteredPlatform, save_registration
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import NoticeRow, PlatformRow
from marketplace.web.services import services
from tests.lti.conftest import LtiEnvironment
from tests.lti.notices_peer import ORIGIN_CONTEXTS, batch, notice_claims, sign_notice


@contextmanager
def competitor_before_flush(sessions: sessionmaker[Session], model: type[Any],
                            store_first: Callable[[Any], None]) -> Iterator[list[Any]]:
    """Before the first flush that inserts a `model` row, `store_first` commits the same row elsewhere."""
    raced: list[Any] = []

    def hook(session: Session, *_: object) -> None:
        mine = [row for row in session.new if isinstance(row, model)]
        if mine and not raced:
            raced.append(mine[0])
            store_first(mine[0])

    event.listen(sessions, "before_flush", hook)
    try:
        yield raced
    finally:
        event.remove(sessions, "before_flush", hook)


def copy_of(row: Any, **changes: Any) -> Any:  # noqa: ANN401 - any mapped row
    table = type(row).__table__
    values = {column.key: getattr(row, column.key) for column in table.columns if column.key != "id"}
    return type(row)(**{**values, **changes})


def test_a_copy_notice_delivered_twice_at_once_is_acknowledged_once(lti: LtiEnvironment) -> None:
    claims = notice_claims(lti.peer, "LtiContextCopyNotice", notice_id="copy-race", context="course-2",
                           **{ORIGIN_CONTEXTS: ["course-1"]})

    def store_first(row: NoticeRow) -> None:
        with lti.sessions() as other:
            other.add(copy_of(row))
            other.commit()

    with competitor_before_flush(services(lti.app).sessions, NoticeRow, store_first) as raced:
        response = lti.browser.post(lti.tool_url + "/lti/notices", json=batch(sign_notice(lti.peer, claims)))
    assert raced and response.status_code == 204, response.text
    with lti.sessions() as session:
        assert session.scalars(select(NoticeRow.notice_id)).all() == ["copy-race"]


def test_a_registration_that_loses_the_race_is_refused_as_a_conflict(database_url: str) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        registered = RegisteredPlatform(issuer="https://lms.example", client_id="c-1",
                                        auth_login_url="https://lms.example/auth",
                                        auth_token_url="https://lms.example/token",
                                        key_set_url="https://lms.example/jwks", name="Racing LMS", deployment_id="d-1")

        def store_first(row: PlatformRow) -> None:
            with make_session_factory(engine)() as other:
                other.add(copy_of(row, name="The first one"))
                other.commit()

        with competitor_before_flush(sessions, PlatformRow, store_first) as raced, \
                pytest.raises(DynamicRegistrationError) as refused:
            save_registration(sessions, registered, allow_http=False)
        assert raced and refused.value.kind == "conflict"
        with sessions() as session:
            assert session.scalars(select(PlatformRow.name)).all() == ["The first one"]
    finally:
        engine.dispose()
