"""Pure rules for HubSpot contacts and what they decide on the way to Salesforce: the inclusion
list (R1), the Salesforce record a contact is linked to, the company domain of an e-mail address,
whether a company creates an account (R7), and lifecycle stages (R8). No I/O, no database."""

from __future__ import annotations

from dataclasses import dataclass

from sync.choices import DefaultObject, SalesforceContactType
from sync.rules import normalise_domain


def parse_inclusion_list(text: str) -> list[dict]:
    """``"PROPERTY=VALUE;PROPERTY=VALUE"`` → conditions; ``""`` → [] (every contact qualifies)."""
    conditions = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        prop, sep, value = part.partition("=")
        if not sep or not prop.strip():
            raise ValueError(f"'{part}' is not PROPERTY=VALUE")
        conditions.append({"property": prop.strip(), "value": value.strip()})
    return conditions


def format_inclusion_list(conditions: list[dict]) -> str:
    return ";".join(f"{c['property']}={c['value']}" for c in conditions)


def contact_in_inclusion_list(*, conditions: list[dict], properties: dict) -> bool:
    """R1: a contact qualifies when every condition holds (case-insensitive); no conditions = every contact."""
    return all(
        str(properties.get(condition["property"]) or "").strip().lower() == str(condition["value"]).strip().lower()
        for condition in conditions
    )


def contact_salesforce_link(*, contacts: list[dict], leads: list[dict]) -> tuple[str | None, str]:
    """The Salesforce record a HubSpot contact is linked to by e-mail: a Contact before a Lead (a
    converted lead lives on as the contact); a Contact with no AccountId is a private contact.
    Returns (Salesforce Id, SalesforceContactType value); (None, "") when there is none."""
    if contacts:
        contact = sorted(contacts, key=lambda c: (not c.get("AccountId"), c["Id"]))[0]
        return contact["Id"], (SalesforceContactType.CONTACT if contact.get("AccountId") else SalesforceContactType.PRIVATE_CONTACT)
    if leads:
        return sorted(leads, key=lambda lead: lead["Id"])[0]["Id"], SalesforceContactType.LEAD
    return None, SalesforceContactType.NONE


# Mail services whose domain names no company: auto-create never makes a "gmail.com" company.
FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com", "me.com",
     "aol.com", "gmx.com", "gmx.de", "proton.me", "protonmail.com", "libero.it", "yandex.ru", "mail.ru", "qq.com"}
)


def email_company_domain(email: str | None) -> str:
    """The company domain an e-mail address points to ("" for free mail or no valid domain)."""
    _, at, host = (email or "").strip().rpartition("@")
    domain = normalise_domain(host) if at else ""
    return "" if domain in FREE_MAIL_DOMAINS else domain


@dataclass(frozen=True)
class ContactFacts:
    """What R7 needs to know of one HubSpot contact associated with the company."""

    salesforce_type: str  # a SalesforceContactType value
    in_inclusion_list: bool


R7_AUTO_CREATED = "the company was created by automatic company creation and the default object is Contact"
R7_PRIVATE_CONTACT = "an associated contact syncs with a private Salesforce contact"
R7_INCLUSION_LIST = "an associated contact qualifies for the Salesforce inclusion list"
R7_NO_CONTACTS = "the company is not associated with any HubSpot contact"
R7_ONLY_LEADS = "all associated contacts sync with Salesforce leads"
R7_NONE_INCLUDED = "none of the associated contacts is in the Salesforce inclusion list"


def account_creation_decision(
    *, auto_created: bool, default_object: str, contacts: list[ContactFacts]
) -> tuple[bool, str]:
    """R7: whether a company created in HubSpot creates a Salesforce account, and why.

    The three "does not create" conditions are checked first (any one refuses); then the three
    "creates" conditions in the article's order (the first that holds is the reason).
    """
    if not contacts:
        return False, R7_NO_CONTACTS
    if all(c.salesforce_type == SalesforceContactType.LEAD for c in contacts):
        return False, R7_ONLY_LEADS
    if not any(c.in_inclusion_list for c in contacts):
        return False, R7_NONE_INCLUDED
    if auto_created and default_object == DefaultObject.CONTACT:
        return True, R7_AUTO_CREATED
    if any(c.salesforce_type == SalesforceContactType.PRIVATE_CONTACT for c in contacts):
        return True, R7_PRIVATE_CONTACT
    return True, R7_INCLUSION_LIST


# HubSpot's lifecycle stages, earliest first. "other" sits outside the funnel: it ranks below every
# stage, so a company at "other" may move into the funnel, and "other" never moves a company.
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)


def lifecycle_rank(stage: str | None) -> int:
    return LIFECYCLE_ORDER.index(stage) if stage in LIFECYCLE_ORDER else -1


def lifecycle_furthest(stages: list[str | None]) -> str | None:
    """The furthest funnel stage among these (None when none is in the funnel)."""
    ranked = [stage for stage in stages if lifecycle_rank(stage) >= 0]
    return max(ranked, key=lifecycle_rank) if ranked else None


def lifecycle_can_move(*, current: str | None, new: str | None) -> bool:
    """R8: lifecycle stages only move forward, as in HubSpot."""
    return lifecycle_rank(new) > lifecycle_rank(current)


def company_lifecycle_target(*, company_stage: str | None, contact_stages: list[str | None]) -> str | None:
    """R8: the stage a company moves to (the furthest among its contacts), or None to stay."""
    furthest = lifecycle_furthest(contact_stages)
    return furthest if lifecycle_can_move(current=company_stage, new=furthest) else None
