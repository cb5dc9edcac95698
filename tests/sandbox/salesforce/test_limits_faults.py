"""The daily API counter and its header, injected faults of every kind, call statistics."""

from __future__ import annotations

import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)


def test_limits_and_the_counter(sf, control):
    control.set_api_limit(1000)
    sf.query("SELECT Id FROM Account")
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 1000, "Remaining": 998}
    assert sf.api_usage["api-usage"].used == 2 and sf.api_usage["api-usage"].total == 1000
    assert control.api_usage() == {"limit": 1000, "used": 2}


def test_error_answers_carry_the_limit_header(http, details, control):
    response = http.get(f"{details['instance_url']}/services/data/v59.0/sobjects/Account/001000000000000AAA")
    assert response.status_code == 404 and response.headers["Sforce-Limit-Info"] == "api-usage=1/100000"


def test_error_503_for_a_count_of_answers(sf, control):
    control.add_fault(kind="error_503", endpoint="/services/data/*/query*", count=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as error:
            sf.query("SELECT Id FROM Account")
        assert error.value.status == 503
    sf.query("SELECT Id FROM Account")


def test_rate_limit_and_expired_session_faults(sf, control):
    control.add_fault(kind="rate_limit", endpoint="*/limits*", count=1)
    control.add_fault(kind="expired_session", endpoint="*/sobjects/Account*", method="POST", count=1)
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.limits()
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    with pytest.raises(SalesforceExpiredSession):
        sf.Account.create({"Name": "Acme"})
    assert sf.Account.create({"Name": "Acme"})["success"]


def test_share_of_answers(sf, control):
    control.add_fault(kind="error_503", endpoint="*/limits*", share=0.5)
    outcomes = []
    for _ in range(10):
        try:
            sf.limits()
            outcomes.append("ok")
        except SalesforceGeneralError:
            outcomes.append("503")
    assert outcomes.count("503") == 5


def test_slow_answer(sf, control):
    control.add_fault(kind="slow", endpoint="*/limits*", count=1, delay_seconds=0.5)
    started = time.monotonic()
    sf.limits()
    assert time.monotonic() - started >= 0.5


def test_dropped_connection(sf, control):
    control.add_fault(kind="drop_connection", endpoint="*/limits*", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.limits()
    sf.limits()


def test_stats_by_endpoint_and_method(sf, control):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    sf.Account.get(account_id)
    sf.Account.get(account_id)
    stats = control.stats()
    assert stats["by_endpoint"]["GET /services/data/<version>/sobjects/<sobject>/<record_id>"] == 2
    assert stats["by_endpoint"]["POST /services/data/<version>/sobjects/<sobject>"] == 1
    assert stats["total"] == 3
    control.reset_stats()
    assert control.stats()["total"] == 0


def test_control_api_needs_its_token(details):
    session = requests.Session()
    session.trust_env = False
    session.verify = details["ca_bundle"]
    assert session.post(details["control_url"] + "/reset").status_code == 401
