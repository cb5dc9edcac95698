"""The v3 signature check of the HubSpot webhook, as pure functions (no request, no database)."""

import pytest

from sandbox.hubspot.webhooks import sign_v3
from sync.webhooks import MAX_AGE_MS, MAX_AHEAD_MS, signature_problem

SECRET, URI, BODY, NOW = "s3cret", "https://crmsync.example/webhooks/hubspot/", b'[{"eventId": 1}]', 1_800_000_000_000


def check(*, signature=None, timestamp=NOW, secret=SECRET, body=BODY):
    stamp = str(timestamp)
    signature = sign_v3(secret, "POST", URI, body.decode(), stamp) if signature is None else signature
    return signature_problem(secret=SECRET, method="POST", uri=URI, body=body, signature=signature, timestamp=stamp, now_ms=NOW)


def test_valid_signature_passes_from_five_minutes_ahead_to_just_under_five_minutes_old():
    assert check() == ""
    assert check(timestamp=NOW - MAX_AGE_MS + 1) == ""
    assert check(timestamp=NOW + MAX_AHEAD_MS) == ""  # a sender's clock a little ahead
    assert check(body='[{"name": "Café Zürich"}]'.encode()) == ""  # the SDK signs the UTF-8 text


def test_refusals_say_why_without_the_secret():
    assert check(signature="") == "missing"
    assert check(timestamp=NOW - MAX_AGE_MS) == "stale"
    assert check(secret="other") == "mismatch"
    assert check(signature=sign_v3(SECRET, "POST", URI, '[{"eventId": 2}]', str(NOW))) == "mismatch"
    assert signature_problem(secret=SECRET, method="POST", uri=URI, body=BODY, signature="x", timestamp="soon", now_ms=NOW) == "bad_timestamp"


@pytest.mark.parametrize("ahead_ms", [MAX_AHEAD_MS + 1, 3_600_000, 10**15])
def test_timestamps_more_than_five_minutes_in_the_future_are_refused(ahead_ms):
    assert check(timestamp=NOW + ahead_ms) == "future"


@pytest.mark.parametrize("timestamp", ["-1", "1.8e12", "１８００", "\u00b2", "9" * 17, " 1800000000000"])
def test_timestamps_that_are_not_ascii_milliseconds_are_refused(timestamp):
    assert check(timestamp=timestamp) == "bad_timestamp"


def test_odd_signature_or_body_bytes_are_refused_not_raised():
    assert check(signature="é" * 44) == "mismatch"  # headers arrive as latin-1 text
    assert check(body=b"[\xff]", signature="x") == "not_utf8"
