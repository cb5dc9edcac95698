"""The v3 signature check of the HubSpot webhook, as pure functions (no request, no database)."""

from sandbox.hubspot.webhooks import sign_v3
from sync.webhooks import MAX_AGE_MS, signature_problem

SECRET, URI, BODY, NOW = "s3cret", "https://crmsync.example/webhooks/hubspot/", b'[{"eventId": 1}]', 1_800_000_000_000


def check(*, signature=None, timestamp=NOW, secret=SECRET, body=BODY):
    stamp = str(timestamp)
    signature = sign_v3(secret, "POST", URI, body.decode(), stamp) if signature is None else signature
    return signature_problem(secret=SECRET, method="POST", uri=URI, body=body, signature=signature, timestamp=stamp, now_ms=NOW)


def test_valid_signature_passes_up_to_just_under_five_minutes():
    assert check() == ""
    assert check(timestamp=NOW - MAX_AGE_MS + 1) == ""


def test_refusals_say_why_without_the_secret():
    assert check(signature="") == "missing"
    assert check(timestamp=NOW - MAX_AGE_MS) == "stale"
    assert check(secret="other") == "mismatch"
    assert check(signature=sign_v3(SECRET, "POST", URI, '[{"eventId": 2}]', str(NOW))) == "mismatch"
    assert signature_problem(secret=SECRET, method="POST", uri=URI, body=BODY, signature="x", timestamp="soon", now_ms=NOW) == "bad_timestamp"
