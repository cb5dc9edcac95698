"""Pure pieces of the HubSpot client, on answers captured from the sandbox (tests/fixtures/hubspot/)."""

import json
from pathlib import Path

from sync.choices import ErrorCategory
from sync.clients.hubspot_errors import rejected_from_error

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hubspot"


def answer(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_r12_whole_batch_400_names_the_property_and_keeps_hubspots_words():
    body = answer("batch_create_400_invalid_option.json")

    error = rejected_from_error(body, status=400)

    assert (error.category, error.code, error.fields) == (ErrorCategory.HUBSPOT_PROPERTY, "INVALID_OPTION", ["industry"])
    assert error.message == body["message"]


def test_r12_207_entry_for_unknown_ids_is_not_found():
    (entry,) = answer("batch_read_207.json")["errors"]

    error = rejected_from_error(entry)

    assert (error.category, error.code) == (ErrorCategory.NOT_FOUND, "OBJECT_NOT_FOUND")


def test_r12_unique_value_conflict_is_a_duplicate():
    error = rejected_from_error(answer("create_409_unique_conflict.json"), status=409)

    assert (error.category, error.fields) == (ErrorCategory.DUPLICATE_RULE, ["crmsync_salesforce_account_id"])
