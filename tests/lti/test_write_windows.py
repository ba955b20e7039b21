"""The transactions of a deep-linking round trip write last: nothing is read between a write and the commit.

On SQLite one transaction writes at a time, holding the database's write lock from its first write to its
commit; every other login, launch and answer of every worker waits meanwhile. A transaction that writes early
and then reads (the nonce used up before the deployment and the copied links were looked up, the launch
claimed before the signing key was read) holds everyone up for all of its reads.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from marketplace.web.services import services
from tests.lti.conftest import LtiEnvironment
from tests.lti.dl_receiver import DeepLinkReceiver
from tests.lti.peer import LEARNER
from tests.lti.test_deep_linking import choose, items_of, open_picker, send_back

WRITES = ("INSERT", "UPDATE", "DELETE")


class Transactions:
    """The statements of each transaction the tool ran, in order, per connection."""

    def __init__(self) -> None:
        self.finished: list[list[str]] = []
        self._open: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def statement(self, connection: Any, _cursor: Any, sql: str, *_: Any) -> None:  # noqa: ANN401
        with self._lock:
            self._open.setdefault(id(connection), []).append(" ".join(sql.split())[:120])

    def end(self, connection: Any) -> None:  # noqa: ANN401
        with self._lock:
            statements = self._open.pop(id(connection), [])
            if statements:
                self.finished.append(statements)

    def every_statement(self) -> list[str]:
        """Every statement so far, of ended transactions and of those still open (a read-only session's)."""
        with self._lock:
            return sum(self.finished, []) + sum(self._open.values(), [])

    def reads_after_writes(self) -> list[list[str]]:
        """The transactions that read after their first write."""
        late = []
        for statements in self.finished:
            kinds = [sql.lstrip().upper().startswith(WRITES) for sql in statements]
            if True in kinds and not all(kinds[kinds.index(True):]):
                late.append(statements)
        return late


@contextmanager
def recording(app: object) -> Iterator[Transactions]:
    """Every transaction the app's engine runs while inside."""
    engine: Engine = services(app).sessions.kw["bind"]
    seen = Transactions()
    hooks = [("before_cursor_execute", seen.statement), ("commit", seen.end), ("rollback", seen.end)]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)


@pytest.fixture
def transactions(lti: LtiEnvironment) -> Iterator[Transactions]:
    with recording(lti.app) as seen:
        yield seen


@pytest.mark.parametrize("placement", ["editor_button", "assignment_selection"])
def test_login_launch_picker_and_answer_write_last(lti: LtiEnvironment, receiver: DeepLinkReceiver,
                                                   transactions: Transactions, placement: str) -> None:
    page = open_picker(lti, receiver, placement)
    assert page.status_code == 200, page.text[:500]
    if placement == "assignment_selection":
        items = items_of(send_back(lti, choose(lti, page, ["plant-cells"], points="15")))
    else:
        items = items_of(send_back(lti, choose(lti, page, ["plant-cells", "leaf-quiz"])))
    assert items and not receiver.problems
    writing = [statements for statements in transactions.finished
               if any(sql.upper().startswith(WRITES) for sql in statements)]
    # The login, the launch, the picker page's handoff and the answer each wrote (what is checked is not empty).
    assert len(writing) >= 4, transactions.finished
    assert any("login_states" in sql and sql.startswith("INSERT") for sql in sum(writing, []))
    assert any(sql.startswith("UPDATE launches SET responded_at") for sql in sum(writing, []))
    assert transactions.reads_after_writes() == []


def test_the_check_sees_a_read_after_a_write() -> None:
    seen = Transactions()
    for sql in ("SELECT 1", "UPDATE t SET x = 1", "SELECT 2"):
        seen.statement(seen, None, sql)
    seen.end(seen)
    for sql in ("SELECT 1", "INSERT INTO t VALUES (1)", "UPDATE t SET x = 2"):
        seen.statement(seen, None, sql)
    seen.end(seen)
    assert seen.reads_after_writes() == [["SELECT 1", "UPDATE t SET x = 1", "SELECT 2"]]


def test_a_homework_submission_and_a_refused_launch_write_last(lti: LtiEnvironment, receiver: DeepLinkReceiver,
                                                               transactions: Transactions) -> None:
    lti.peer.roles = [LEARNER]
    page = open_picker(lti, receiver, "homework_submission")
    token = html.unescape(re.search(r'name="launch_token" value="([^"]+)"', page.text)[1])
    added = lti.browser.post(lti.tool_url + "/lti/portfolio/items", headers={"X-Launch-Token": token,
                             "HX-Request": "true"}, data={"title": "My essay"},
                             files={"file": ("essay.txt", b"Leaves are green.\n", "text/plain")})
    item_id = re.search(r'name="portfolio_item" value="([^"]+)"', added.text)[1]
    (item,) = items_of(send_back(lti, choose(lti, page, [], portfolio_item=item_id)))
    assert item["type"] == "file"
    refused = lti.browser.post(lti.tool_url + "/lti/launch", data={"id_token": "not.a.jwt", "state": "x"})
    assert refused.status_code == 400
    statements = sum(transactions.finished, [])
    assert any(sql.startswith("INSERT INTO portfolio_submissions") for sql in statements)
    assert any(sql.startswith("INSERT INTO launch_refusals") for sql in statements)
    assert transactions.reads_after_writes() == []


def test_a_login_and_a_launch_each_read_their_platform_once(lti: LtiEnvironment, receiver: DeepLinkReceiver,
                                                           transactions: Transactions) -> None:
    """PyLTI1p3 asks for the registration the login or launch has just read, and the launch learns the LMS page's
    origin (for frame-ancestors) on it: it is not read again."""
    lti.peer.extra_claims = {"https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
        "document_target": "iframe", "return_url": "https://school.instructure.com/courses/1/external_content"}}
    assert lti.launch().status_code == 200
    login, launch = [statements for statements in transactions.finished
                     if any(sql.startswith(("INSERT INTO login_states", "INSERT INTO launches")) for sql in statements)]
    for statements in (login, launch):
        assert sum(sql.startswith("SELECT platforms.") for sql in statements) == 1, statements
    assert any(sql.startswith("UPDATE platforms SET frame_origins") for sql in launch), launch  # learned


def test_an_answer_reads_its_launch_once(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    """The launch token's read brings the platform, the tray and whether the launch was answered: the answer
    does not read the launch's row again (it did, the whole row with its claims). A second press still finds
    the answer it gave, from the row."""
    page = open_picker(lti, receiver, "editor_button")
    for press in ("first", "second"):
        with recording(lti.app) as seen:
            response = choose(lti, page, ["plant-cells"])
        assert response.status_code == 200, response.text[:300]
        launch_reads = [sql for sql in seen.every_statement() if sql.startswith("SELECT launches.")]
        assert len(launch_reads) == (1 if press == "first" else 2), launch_reads
    assert len(items_of(send_back(lti, response))) == 1  # the second press sent the first answer again
