"""Pure rules for matching records across the CRMs (R10) and which accounts get a company (R3,
R4): no I/O, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sync.rules import normalise_domain


# A Salesforce Account ID: key prefix 001, 15 characters (case-sensitive) or 18 (with the checksum).
ACCOUNT_ID = re.compile(r"^001[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$")
ACCOUNT_IDS_LISTED_MAX = 10_000


def account_ids_problem(ids: list[str]) -> str:
    """Why a list of account IDs to import is refused ("" when it is fine): too long to list, or
    values that are not Account IDs (named, the first 20)."""
    if len(ids) > ACCOUNT_IDS_LISTED_MAX:
        return (f"List at most {ACCOUNT_IDS_LISTED_MAX:,} account IDs (this list has {len(ids):,}); "
                "leave the list empty to import every account.")
    malformed = [i for i in ids if not ACCOUNT_ID.match(i)]
    if not malformed:
        return ""
    named = ", ".join(i if len(i) <= 40 else i[:40] + "…" for i in malformed[:20])
    more = f" and {len(malformed) - 20:,} more" if len(malformed) > 20 else ""
    return f"Not Salesforce account IDs (15 or 18 letters and digits, starting 001): {named}{more}."



@dataclass(frozen=True)
class CompanyCandidate:
    """What matching needs to know of a company crmsync has seen in HubSpot."""

    pk: int
    salesforce_account_id: str | None
    domain: str
    created_at: datetime


@dataclass(frozen=True)
class CompanyMatch:
    pk: int | None  # None: create a new company
    by: str  # "account_id", "domain" or "none"
    possible_duplicates: tuple[int, ...] = ()


def match_company(*, account_id: str, website: str | None, candidates: list[CompanyCandidate]) -> CompanyMatch:
    """R10: the company linked to this account ID; else the oldest unlinked company on the account's
    website domain (the other ones on that domain are possible duplicates); else none."""
    for candidate in candidates:
        if candidate.salesforce_account_id == account_id:
            return CompanyMatch(candidate.pk, "account_id")
    domain = normalise_domain(website)
    if not domain:
        return CompanyMatch(None, "none")
    same_domain = sorted(
        (c for c in candidates if not c.salesforce_account_id and normalise_domain(c.domain) == domain),
        key=lambda c: (c.created_at, c.pk),
    )
    if not same_domain:
        return CompanyMatch(None, "none")
    oldest, *others = same_domain
    return CompanyMatch(oldest.pk, "domain", tuple(c.pk for c in others))


def account_should_create_company(
    *,
    sync_companies: bool,
    enabled_at: datetime | None,
    account_created_at: datetime | None,
    account_modified_at: datetime | None,
    explicit: bool,
) -> bool:
    """Whether an account with no company yet gets one.

    R2: never while Sync companies is off. R4a: an explicit import (or resync) always does.
    R3: an account created after the switch-on does. R4b: an older account does once it is
    changed after the switch-on — never merely because sync was switched on.
    """
    if not sync_companies:
        return False
    if explicit:
        return True
    if enabled_at is None:
        return False
    if account_created_at is not None and account_created_at >= enabled_at:
        return True
    return account_modified_at is not None and account_modified_at > enabled_at


@dataclass(frozen=True)
class AccountCandidate:
    """What R10 on the way back needs to know of a Salesforce account found by website."""

    id: str
    website: str | None
    created_at: datetime | None
    linked_elsewhere: bool  # already the account of another company


def match_account(*, domain: str, candidates: list[AccountCandidate]) -> tuple[str | None, tuple[str, ...]]:
    """R10 on the way back for a company with no linked account: the oldest account whose website
    domain equals the company's and which no other company holds; the others on that domain are
    possible duplicates. (None, ()) when there is none: the account is created."""
    domain = normalise_domain(domain)
    if not domain:
        return None, ()
    same = sorted(
        (c for c in candidates if not c.linked_elsewhere and normalise_domain(c.website) == domain),
        key=lambda c: (c.created_at or datetime.max.replace(tzinfo=timezone.utc), c.id),
    )
    if not same:
        return None, ()
    return same[0].id, tuple(c.id for c in same[1:])
