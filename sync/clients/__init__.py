"""The only modules that talk to the CRMs (and the only ones importing their SDKs).

``sync.clients.salesforce.get_salesforce_client()`` and ``sync.clients.hubspot.get_hubspot_client()``
return clients that speak plain dicts and raise ``sync.clients.exceptions`` errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.clients.exceptions import Rejected


@dataclass(frozen=True)
class RecordResult:
    """The outcome of writing one record in a batch call."""

    key: str  # what the caller passed to identify the input (an account Id, a company id, an external id)
    ok: bool
    id: str | None  # the record's id on the written side
    created: bool = False
    error: Rejected | None = None
