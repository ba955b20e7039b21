"""Values keyed by the secret: one key per purpose, never accepted for another purpose, and values made by the
earlier keying still read (launch tokens in flight, week-old download links, keys sealed at rest)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import jwt
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from marketplace import keyed
from marketplace.clock import utc_now
from marketplace.keyed import Purpose
from marketplace.lti import launch_token
from marketplace.lti.errors import LtiRefusal
from marketplace.lti.handoff import binding
from marketplace.lti.keys import ensure_keys, load_private_key, new_key_row, reseal_legacy_keys
from marketplace.portfolio import signing
from marketplace.store.models import Base, ToolKeyRow

SECRET = "k" * 48
OTHER_SECRET = "o" * 48


def test_each_purpose_has_its_own_key_and_none_is_the_secret() -> None:
    keys = {purpose: keyed.derive_key(SECRET, purpose) for purpose in Purpose}
    assert len(set(keys.values())) == len(Purpose)
    assert all(len(key) == 32 and SECRET.encode() not in key for key in keys.values())
    assert keyed.derive_key(OTHER_SECRET, Purpose.LAUNCH) != keys[Purpose.LAUNCH]


def test_a_token_made_for_one_purpose_is_refused_for_every_other() -> None:
    token = keyed.sign({"x": 1}, SECRET, Purpose.LAUNCH, timedelta(minutes=5))
    assert keyed.read_claims(token, SECRET, Purpose.LAUNCH)["x"] == 1
    for purpose in set(Purpose) - {Purpose.LAUNCH}:
        with pytest.raises(keyed.TokenInvalid):
            keyed.read_claims(token, SECRET, purpose)
    with pytest.raises(keyed.TokenInvalid):
        keyed.read_claims(token, OTHER_SECRET, Purpose.LAUNCH)


def test_an_expired_token_is_told_apart_from_a_forged_one() -> None:
    expired = keyed.sign({}, SECRET, Purpose.LAUNCH, timedelta(seconds=-1))
    with pytest.raises(keyed.TokenExpired):
        keyed.read_claims(expired, SECRET, Purpose.LAUNCH)
    forged = jwt.encode({"exp": utc_now() + timedelta(minutes=5), "aud": Purpose.LAUNCH.audience},
                        "guessed-secret-guessed-secret-guessed", algorithm="HS256")
    with pytest.raises(keyed.TokenInvalid):
        keyed.read_claims(forged, SECRET, Purpose.LAUNCH)


def test_a_required_claim_must_be_there() -> None:
    token = keyed.sign({}, SECRET, Purpose.LAUNCH, timedelta(minutes=5))
    with pytest.raises(keyed.TokenInvalid):
        keyed.read_claims(token, SECRET, Purpose.LAUNCH, require=["lid"])


def test_a_launch_token_made_before_the_derived_keys_still_reads() -> None:
    """A page launched before an upgrade keeps working for its two hours."""
    now = utc_now()
    old = jwt.encode({"lid": "launch-1", "iat": now, "exp": now + timedelta(hours=2), "aud": "marketplace:launch"},
                     SECRET, algorithm="HS256")
    assert launch_token.read(old, SECRET) == "launch-1"
    new = launch_token.issue("launch-2", SECRET)
    assert launch_token.read(new, SECRET) == "launch-2"
    with pytest.raises(jwt.InvalidSignatureError):  # the new one is not keyed with the raw secret any more
        jwt.decode(new, SECRET, algorithms=["HS256"], audience="marketplace:launch")
    with pytest.raises(LtiRefusal):
        launch_token.read(new, OTHER_SECRET)


def test_a_download_link_signed_before_the_derived_keys_still_verifies() -> None:
    """Links handed to Canvas up to a week before an upgrade still download."""
    item_id, content, expires = "item-1", "c" * 64, int((utc_now() + timedelta(days=3)).timestamp())
    old_key = hmac.new(SECRET.encode(), b"lti-marketplace/portfolio-file-url/v2", hashlib.sha256).digest()
    old = hmac.new(old_key, f"{item_id}\n{content}\n{expires}".encode(), hashlib.sha256).hexdigest()
    signing.verify(item_id, content, str(expires), old, SECRET)
    new = signing.signature(item_id, content, expires, SECRET)
    assert new != old and len(new) == 64
    signing.verify(item_id, content, str(expires), new, SECRET)
    with pytest.raises(signing.SignatureRefused):
        signing.verify(item_id, content, str(expires), new, OTHER_SECRET)


def test_a_handoff_cookie_set_before_the_derived_keys_still_binds() -> None:
    code = "handoff-code"
    old = hmac.new(SECRET.encode(), b"handoff:" + code.encode(), hashlib.sha256).hexdigest()
    message = b"handoff:" + code.encode()
    assert keyed.signature_matches(message, old, SECRET, Purpose.HANDOFF_BINDING)
    assert binding(SECRET, code) != old
    assert keyed.signature_matches(message, binding(SECRET, code), SECRET, Purpose.HANDOFF_BINDING)
    assert not keyed.signature_matches(message, binding(OTHER_SECRET, code), SECRET, Purpose.HANDOFF_BINDING)
    assert not keyed.signature_matches(message, "", SECRET, Purpose.HANDOFF_BINDING)


def _legacy_fernet(label: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(label + SECRET.encode()).digest()))


def test_sealed_values_open_only_for_their_purpose_and_legacy_seals_still_open() -> None:
    sealed = keyed.seal(b"private", SECRET, Purpose.ACCESS_TOKENS)
    assert keyed.unseal(sealed, SECRET, Purpose.ACCESS_TOKENS) == b"private"
    assert not keyed.needs_resealing(sealed, SECRET, Purpose.ACCESS_TOKENS)
    with pytest.raises(keyed.SealBroken):
        keyed.unseal(sealed, SECRET, Purpose.TOOL_PRIVATE_KEYS)
    with pytest.raises(keyed.SealBroken):
        keyed.unseal(sealed, OTHER_SECRET, Purpose.ACCESS_TOKENS)
    legacy = _legacy_fernet(b"marketplace access tokens\0").encrypt(b"old token").decode()
    assert keyed.unseal(legacy, SECRET, Purpose.ACCESS_TOKENS) == b"old token"
    assert keyed.needs_resealing(legacy, SECRET, Purpose.ACCESS_TOKENS)


def test_tool_keys_sealed_under_the_legacy_key_are_read_and_sealed_again() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        row = new_key_row(SECRET)
        pem = keyed.unseal(row.private_key_encrypted, SECRET, Purpose.TOOL_PRIVATE_KEYS)
        row.private_key_encrypted = _legacy_fernet(b"marketplace tool keys\0").encrypt(pem).decode()
        row.activated_at = utc_now()
        session.add(row)
        session.commit()
        kid, legacy_text = row.kid, row.private_key_encrypted
        assert load_private_key(row, SECRET) is not None
        ensure_keys(session, SECRET)  # startup and every CLI key command pass here
        session.commit()
        stored = session.get(ToolKeyRow, kid)
        assert stored is not None and stored.private_key_encrypted != legacy_text
        assert not keyed.needs_resealing(stored.private_key_encrypted, SECRET, Purpose.TOOL_PRIVATE_KEYS)
        assert keyed.unseal(stored.private_key_encrypted, SECRET, Purpose.TOOL_PRIVATE_KEYS) == pem
        assert reseal_legacy_keys(session, SECRET) == 0  # nothing left to do
        assert reseal_legacy_keys(session, OTHER_SECRET) == 0  # keys another secret cannot open are left alone
