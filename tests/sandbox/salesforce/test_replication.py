"""getUpdated/getDeleted: windows (30 and 15 days), minute truncation, deleted log."""

from __future__ import annotations

import datetime as dt

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def test_updated_lists_changes_in_the_window(sf, control):
    changed = sf.Account.create({"Name": "Acme"})["id"]
    old = sf.Account.create({"Name": "Old"})["id"]
    control.update_record("Account", old, {"Name": "Old"}, at=(utc_now() - dt.timedelta(days=3)).isoformat())
    result = sf.Account.updated(utc_now() - dt.timedelta(hours=1), utc_now() + dt.timedelta(minutes=2))
    assert result["ids"] == [changed]
    assert result["latestDateCovered"].endswith(":00.000+0000")
    wider = sf.Account.updated(utc_now() - dt.timedelta(days=4), utc_now() + dt.timedelta(minutes=2))
    assert set(wider["ids"]) == {changed, old}


def test_control_edit_bumps_system_modstamp(sf, control):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    before = sf.Account.get(account_id)["SystemModstamp"]
    after = control.update_record("Account", account_id, {"Phone": "555"})
    assert after["SystemModstamp"] >= before and after["Phone"] == "555"
    assert after["LastModifiedDate"] == after["SystemModstamp"]


def test_deleted_lists_deletions(sf):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    sf.Account.delete(account_id)
    result = sf.Account.deleted(utc_now() - dt.timedelta(days=1), utc_now() + dt.timedelta(minutes=2))
    assert [record["id"] for record in result["deletedRecords"]] == [account_id]
    assert set(result) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    assert account_id not in sf.Account.updated(utc_now() - dt.timedelta(days=1), utc_now())["ids"]


def test_windows_reach_back_30_and_15_days(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.updated(utc_now() - dt.timedelta(days=31), utc_now())
    assert error.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    sf.Account.updated(utc_now() - dt.timedelta(days=29), utc_now())
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.deleted(utc_now() - dt.timedelta(days=16), utc_now())
    sf.Account.deleted(utc_now() - dt.timedelta(days=14), utc_now())
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.updated(utc_now(), utc_now() - dt.timedelta(hours=1))
