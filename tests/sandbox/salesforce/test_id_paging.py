"""Paging by ``WHERE Id > last ORDER BY Id LIMIT n`` (how an import reads every account, as PK
chunking does on a real org) sees every record exactly once: IDs sort as they compare, exactly."""

import pytest

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_paging_by_id_sees_every_account_once(sandbox, salesforce_control, salesforce_client):
    salesforce_control.seed(accounts=2500, seed=10)  # IDs mixing digits, upper and lower case
    seen, after = [], ""
    while page := salesforce_client.accounts_page_after(after, fields=["Id"], limit=1000):
        seen += [a["Id"] for a in page]
        after = page[-1]["Id"]
    every = [a["Id"] for a in salesforce_client.accounts_iter_all(fields=["Id"])]
    assert len(seen) == len(set(seen)) == 2500 and set(seen) == set(every)
    assert seen == sorted(seen)  # Id order is the exact (case-sensitive) order the comparison uses
