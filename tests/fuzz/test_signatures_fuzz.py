"""Signature checks called directly: only the exact signature over the exact bytes verifies.

Slack's v0 scheme (``services.admin.views.slack.signature_is_valid`` over slack-sdk's verifier) and
the ITSM webhook schemes (``connectors.ticketing.verify_webhook_signature`` with each adapter's
``sign_webhook``). Both compare with ``hmac.compare_digest`` (constant time); the tests pin that too.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import time
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier

from connectors import ticketing
from connectors.errors import AuthError
from connectors.jira import tickets as jira
from connectors.servicenow import tickets as servicenow
from connectors.zendesk import tickets as zendesk
from services.admin.views import slack as slack_views
from tests.fuzz.strategies import header_text
from tests.fuzz.tally import examples, probe

NOW = 1_700_000_000
secrets_ = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64).filter(lambda s: bool(s.strip()))
bodies = st.binary(max_size=2048)


class _FixedClock(Clock):
    def now(self) -> float:
        return float(NOW)


def _slack_headers(timestamp: str, signature: str) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def _slack_sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's published v0 scheme, written out independently of the code under test."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@examples(100)
@given(secret=secrets_, body=st.text(max_size=500), skew=st.integers(-300, 300))
def test_slack_scheme_agrees_with_slack_sdk_on_utf8_bodies(secret: str, body: str, skew: int) -> None:
    with probe("signature.slack.matches_sdk"):
        timestamp = str(NOW + skew)
        assert SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) == _slack_sign(
            secret, timestamp, body.encode()
        )
        headers = _slack_headers(timestamp, _slack_sign(secret, timestamp, body.encode()))
        assert SignatureVerifier(secret, clock=_FixedClock()).is_valid_request(body, headers)


@examples(150)
@given(secret=secrets_, body=bodies, skew=st.integers(-300, 300))
def test_slack_exact_signature_within_five_minutes_verifies(secret: str, body: bytes, skew: int) -> None:
    with probe("signature.slack.valid"):
        verifier = SignatureVerifier(secret, clock=_FixedClock())
        timestamp = str(NOW + skew)
        headers = _slack_headers(timestamp, _slack_sign(secret, timestamp, body))
        assert slack_views.signature_is_valid(verifier, body, headers)


@examples(200)
@given(
    secret=secrets_,
    other_secret=secrets_,
    body=bodies,
    other_body=bodies,
    skew=st.integers(-(10**6), 10**6),
    change=st.sampled_from(["secret", "body", "stale", "flip", "truncate", "case"]),
)
def test_slack_anything_but_the_exact_signature_is_refused(
    secret: str, other_secret: str, body: bytes, other_body: bytes, skew: int, change: str
) -> None:
    with probe("signature.slack.tampered"):
        verifier = SignatureVerifier(secret, clock=_FixedClock())
        timestamp = str(NOW)
        good = _slack_sign(secret, timestamp, body)
        signed_body = body
        if change == "secret":
            assume(other_secret != secret)
            signature = _slack_sign(other_secret, timestamp, body)
        elif change == "body":
            assume(other_body != body)
            signature, signed_body = good, other_body
        elif change == "stale":
            assume(abs(skew) > 300)
            timestamp = str(NOW + skew)
            signature = _slack_sign(secret, timestamp, body)
        elif change == "flip":
            last = good[-1]
            signature = good[:-1] + ("0" if last != "0" else "1")
        elif change == "truncate":
            signature = good[:-1]
        else:
            assume(good.upper() != good)
            signature = good.upper()
        assert not slack_views.signature_is_valid(verifier, signed_body, _slack_headers(timestamp, signature))


@examples(300)
@given(
    timestamp=st.one_of(header_text, st.integers(-(10**30), 10**30).map(str)),
    signature=st.one_of(header_text, st.just("v0=" + "0" * 64)),
    body=bodies,
    drop=st.sampled_from([None, "X-Slack-Request-Timestamp", "X-Slack-Signature"]),
)
def test_slack_junk_signature_headers_are_refused_never_raise(
    timestamp: str, signature: str, body: bytes, drop: str | None
) -> None:
    with probe("signature.slack.junk_headers"):
        verifier = SignatureVerifier("the-real-secret", clock=_FixedClock())
        headers = _slack_headers(timestamp, signature)
        if drop:
            headers.pop(drop)
        assert not slack_views.signature_is_valid(verifier, body, headers)


def test_slack_compare_is_constant_time() -> None:
    with probe("signature.slack.constant_time"):
        assert "hmac.compare_digest(" in inspect.getsource(slack_views.signature_is_valid)
        assert "hmac.compare_digest" in inspect.getsource(SignatureVerifier.is_valid)  # bolt's own re-check


# ---- ITSM webhooks ---------------------------------------------------------------------------------------

SIGNERS: dict[str, Callable[[bytes, str, str], str]] = {
    "jira": lambda body, secret, _ts: jira.sign_webhook(body, secret),
    "servicenow": lambda body, secret, _ts: servicenow.sign_webhook(body, secret),
    "zendesk": lambda body, secret, ts: zendesk.sign_webhook(body, ts, secret),
}


def _verify(system: str, secret: str | None, given_signature: str, body: bytes, timestamp: str) -> None:
    ticketing.verify_webhook_signature(
        system, secret, given_signature, lambda key: SIGNERS[system](body, key, timestamp)
    )


@pytest.mark.parametrize("system", sorted(SIGNERS))
@examples(100)
@given(secret=secrets_, body=bodies, timestamp=header_text)
def test_itsm_exact_signature_verifies(system: str, secret: str, body: bytes, timestamp: str) -> None:
    with probe(f"signature.{system}.valid"):
        _verify(system, secret, SIGNERS[system](body, secret, timestamp), body, timestamp)


@pytest.mark.parametrize("system", sorted(SIGNERS))
@examples(100)
@given(
    secret=secrets_,
    other_secret=st.one_of(st.none(), st.just(""), secrets_),
    body=bodies,
    other_body=bodies,
    given_signature=header_text,
    change=st.sampled_from(["secret", "body", "junk", "empty", "no-secret"]),
)
def test_itsm_anything_but_the_exact_signature_is_refused(
    system: str,
    secret: str,
    other_secret: str | None,
    body: bytes,
    other_body: bytes,
    given_signature: str,
    change: str,
) -> None:
    with probe(f"signature.{system}.tampered"):
        good = SIGNERS[system](body, secret, "1700000000")
        verify_secret: str | None = secret
        if change == "secret":
            assume(other_secret and other_secret != secret)
            assert other_secret is not None
            sent, checked_body = SIGNERS[system](body, other_secret, "1700000000"), body
        elif change == "body":
            assume(other_body != body)
            sent, checked_body = good, other_body
        elif change == "junk":
            assume(given_signature != good)
            sent, checked_body = given_signature, body
        elif change == "empty":
            sent, checked_body = "", body
        else:
            sent, checked_body, verify_secret = good, body, other_secret if not other_secret else None
        with pytest.raises(AuthError):
            _verify(system, verify_secret, sent, checked_body, "1700000000")


def test_itsm_compare_is_constant_time() -> None:
    with probe("signature.itsm.constant_time"):
        assert "hmac.compare_digest" in inspect.getsource(ticketing.verify_webhook_signature)
        assert hmac.compare_digest(b"a", b"a")


def test_clock_is_real_for_the_web_verifier() -> None:
    """The app's verifier uses the wall clock: a signature made now verifies, one an hour old does not."""
    with probe("signature.slack.wall_clock"):
        verifier = SignatureVerifier("s3cret")
        now = str(int(time.time()))
        hour_ago = str(int(time.time()) - 3600)
        assert slack_views.signature_is_valid(
            verifier, b"{}", _slack_headers(now, _slack_sign("s3cret", now, b"{}"))
        )
        stale = _slack_headers(hour_ago, _slack_sign("s3cret", hour_ago, b"{}"))
        assert not slack_views.signature_is_valid(verifier, b"{}", stale)
