"""Which failures of a unit's work pass (tried again later) and which are the record's own
(isolated at once): the engine's first decision on every failure (issue 10, R12)."""

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.db import DataError, IntegrityError, OperationalError, ProgrammingError

from sync.clients.exceptions import RateLimited, Rejected, Transient
from sync.units import failure_is_transient


@pytest.mark.parametrize("error", [
    RateLimited("slow down", crm="hubspot"),
    Transient("503", crm="salesforce"),
    ImproperlyConfigured("HubSpot is not connected"),
    redis.exceptions.ConnectionError("Redis restarting"),
    OperationalError("server closed the connection unexpectedly"),
    IntegrityError("duplicate key value violates unique constraint"),  # another worker wrote it first
])
def test_r12_a_passing_failure_is_tried_again(error):
    assert failure_is_transient(error)


@pytest.mark.parametrize("error", [
    Rejected("INVALID_OPTION", crm="hubspot"),
    DataError("value too long for type character varying(255)"),  # the record's own value
    ProgrammingError("column does not exist"),
    ValueError("poison"),
])
def test_r12_a_record_that_cannot_be_processed_is_not_retried(error):
    assert not failure_is_transient(error)
