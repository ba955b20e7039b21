"""From a verified launch to the launched page: the one-time handoff code, the browser binding, the
storage-confirmed launch, and the LMS page origins learned for frame-ancestors.

A launch POST lands on the tool with cookies that third-party frames may block, so the launch is confirmed
either by the state cookie (then a one-time code, bound to that browser, carries it to /lti/app) or by the
platform's storage (then the launch page posts state and nonce back). These rules live here, as functions
of a session; the views only move cookies and render.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import aware
from marketplace.keyed import Purpose, signature, signature_matches
from marketplace.logs import bind_trace
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import LtiRefusal, refused
from marketplace.lti.launch import FormRequest, StrictMessageLaunch, VerifiedLaunch
from marketplace.lti.platform_keys import PlatformKeySets
from marketplace.platform_urls import safe_origin
from marketplace.store.models import LaunchRow, PlatformRow, table_of

HANDOFF_SECONDS = 120
NO_WAY_TO_CONFIRM = ("Your browser blocked the cookie this tool needs to confirm the launch, and the platform offers "
                     "no other way.")
MAX_LEARNED_ORIGINS = 50


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_handoff() -> tuple[str, str]:
    """A one-time code for a launch, and the hash of it that the launch row stores (never the code)."""
    code = secrets.token_urlsafe(32)
    return code, _hash(code)


def binding(secret_key: str, code: str) -> str:
    """The cookie value that binds a handoff code to the browser it was given to (keyed: unguessable)."""
    return signature(_binding_message(code), secret_key, Purpose.HANDOFF_BINDING)


def _binding_message(code: str) -> bytes:
    return b"handoff:" + code.encode("utf-8")


_LAUNCHES = table_of(LaunchRow)
# Every launch's page runs it once; built once, on the table (no ORM bulk-update planning per call).
_REDEEM = (update(_LAUNCHES).where(_LAUNCHES.c.handoff_hash == bindparam("code_hash")).values(handoff_hash=None)
           .returning(_LAUNCHES.c.id, _LAUNCHES.c.confirmed_at))


def redeem_handoff(sessions: sessionmaker[Session], secret_key: str, code: str, presented: str,
                   now: datetime) -> str:
    """The launch id for a handoff code, usable once, shortly after the launch and only in the browser it
    was given to: someone else's code opened elsewhere would put that browser inside their launch."""
    if code and not signature_matches(_binding_message(code), presented, secret_key, Purpose.HANDOFF_BINDING):
        raise LtiRefusal("handoff_foreign", "This launch link belongs to another browser. Open the tool again "
                         "from your course.", 401)
    # One statement that both uses the code up and reads the launch: of two requests racing with the same
    # code (a double click, a replayed link), exactly one gets the row back.
    redeemed = None
    if code:
        with sessions() as session:
            redeemed = session.execute(_REDEEM, {"code_hash": _hash(code)}).first()
            session.commit()
    if redeemed is None:
        raise LtiRefusal("handoff_invalid", "This page was already opened or its link is not valid. Open the tool "
                         "again from your course.", 401)
    launch_id, confirmed = redeemed
    if confirmed is None or (now - aware(confirmed)).total_seconds() > HANDOFF_SECONDS:
        raise LtiRefusal("handoff_expired", "This launch link has expired. Open the tool again from your course.",
                         401)
    return str(launch_id)


def confirm_from_storage(sessions: sessionmaker[Session], launch_id: str, state: str, nonce: str,
                         now: datetime) -> str:
    """Confirm a launch whose page read state and nonce back from the platform's storage; returns its id."""
    with sessions() as session:
        row = session.get(LaunchRow, launch_id)
        if row is None or row.confirmed_at is not None:
            raise refused("confirm_unknown", "This launch cannot be confirmed.")
        if not state or state != row.state or not nonce or nonce != row.claims.get("nonce"):
            raise refused("state_mismatch", "The launch does not match the login this browser started.")
        row.confirmed_at = now
        session.commit()
        return launch_id


def learn_frame_origin(platform: PlatformRow, context: LaunchContext) -> None:
    """Remember the LMS page origin (e.g. a Canvas school's own domain) so frame-ancestors allows it. `platform`
    is the launch's own registration, as validation read it (in the launch's session: written at its commit)."""
    return_url = context.launch_presentation.get("return_url")
    if not isinstance(return_url, str):
        return
    origin = safe_origin(return_url)  # the same check as every platform URL: nothing header-breaking
    if origin is None:
        return
    known = platform.frame_origins or []
    if origin not in known and len(known) < MAX_LEARNED_ORIGINS:
        platform.frame_origins = [*known, origin]


def accept_launch(sessions: sessionmaker[Session], platform_keys: PlatformKeySets, params: dict[str, str], *,
                  secure: bool, cookie_ok: bool) -> tuple[VerifiedLaunch, str | None]:
    """Validate a launch POST and store it, in one transaction; returns it with a handoff code when the
    state cookie already confirmed this browser (else the launch page confirms it through platform storage)."""
    bind_trace(params.get("state"))
    with sessions() as session:
        message = StrictMessageLaunch(FormRequest(params, secure), session, platform_keys)
        message.validate()  # reads only: nothing is written until the launch is known to be good
        if not cookie_ok and not params.get("lti_storage_target"):
            raise refused("state_not_bound", NO_WAY_TO_CONFIRM,
                          advice="Open the tool in a new window, or allow cookies for this site, then try again.")
        code, code_hash = new_handoff() if cookie_ok else (None, None)
        verified = message.prepare(confirmed=cookie_ok, handoff_hash=code_hash)
        learn_frame_origin(message.platform, verified.context)
        # The writes together at the end: on SQLite the write lock is held from the first to the commit.
        message.record()
        session.commit()
        return verified, code
