"""R12: the CRMs' error codes become crmsync's error categories (pure, no I/O)."""

import pytest

from sync import rules_errors
from sync.choices import ErrorCategory


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ErrorCategory.VALIDATION_RULE),
        ("REQUIRED_FIELD_MISSING", ErrorCategory.REQUIRED_FIELD_MISSING),
        ("STRING_TOO_LONG", ErrorCategory.VALUE_TOO_LONG),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ErrorCategory.INVALID_PICKLIST_VALUE),
        ("DUPLICATES_DETECTED", ErrorCategory.DUPLICATE_RULE),
        ("DUPLICATE_VALUE", ErrorCategory.DUPLICATE_RULE),
        ("INSUFFICIENT_ACCESS_OR_READONLY", ErrorCategory.PERMISSION),
        ("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", ErrorCategory.PERMISSION),
        ("REQUEST_LIMIT_EXCEEDED", ErrorCategory.API_LIMIT),
        ("INVALID_SESSION_ID", ErrorCategory.AUTHENTICATION),
        ("ENTITY_IS_DELETED", ErrorCategory.NOT_FOUND),
        ("NOT_FOUND", ErrorCategory.NOT_FOUND),
        ("SOMETHING_NEW", ErrorCategory.OTHER),
        (None, ErrorCategory.OTHER),
    ],
)
def test_r12_salesforce_error_code_category(code, category):
    assert rules_errors.salesforce_error_category(code) == category


@pytest.mark.parametrize(
    ("category", "status", "properties", "expected"),
    [
        ("VALIDATION_ERROR", 400, ["industry"], ErrorCategory.HUBSPOT_PROPERTY),
        ("VALIDATION_ERROR", 400, [], ErrorCategory.OTHER),
        ("CONFLICT", 409, ["crmsync_salesforce_account_id"], ErrorCategory.DUPLICATE_RULE),
        ("OBJECT_NOT_FOUND", 404, [], ErrorCategory.NOT_FOUND),
        ("EXPIRED_AUTHENTICATION", 401, [], ErrorCategory.AUTHENTICATION),
        ("MISSING_SCOPES", 403, [], ErrorCategory.PERMISSION),
        (None, 403, [], ErrorCategory.PERMISSION),
        ("RATE_LIMIT", 429, [], ErrorCategory.API_LIMIT),
        ("SOMETHING_NEW", 400, [], ErrorCategory.OTHER),
    ],
)
def test_r12_hubspot_error_category(category, status, properties, expected):
    assert rules_errors.hubspot_error_category(category=category, status=status, property_names=properties) == expected
