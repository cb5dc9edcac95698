"""Pure conversion between a Salesforce Account and a HubSpot company, per field mapping (R11).

No I/O: callers hand in the records (plain dicts as the clients return them), the mappings and
an owner directory, and get back what to write, what changed and what could not be converted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from sync import rules
from sync.choices import ErrorCategory, FieldType, SyncRule

# HubSpot's company domain holds a bare domain; Salesforce's Website holds a URL.
DOMAIN_PROPERTY = "domain"
# Salesforce number, currency and percent fields hold at most 18 digits; a field's own precision
# (say Number(8, 0)) may be less, and Salesforce itself refuses a value beyond that.
SALESFORCE_NUMBER_DIGITS = 18
OUT_OF_RANGE = "Value out of range"


class MappingError(ValueError):
    """A value that cannot become a value of the other side's type; it names the field."""

    def __init__(self, *, field: str, message: str, category: str = ErrorCategory.OTHER) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.category = category
        self.code = "CRMSYNC_MAPPING"


@dataclass(frozen=True)
class OwnerDirectory:
    """Salesforce users and HubSpot owners, matched by e-mail (R11: owner ↔ user by e-mail)."""

    salesforce_user_emails: dict[str, str]  # active user Id → lower-case e-mail
    hubspot_owner_ids: dict[str, str]  # lower-case e-mail → owner id

    def hubspot_owner_for(self, user_id: str | None) -> str | None:
        email = self.salesforce_user_emails.get(user_id or "")
        return self.hubspot_owner_ids.get(email) if email else None

    def salesforce_user_for(self, owner_id: str | None) -> str | None:
        email = next((e for e, o in self.hubspot_owner_ids.items() if o == str(owner_id or "")), None)
        return next((u for u, e in self.salesforce_user_emails.items() if e == email), None) if email else None


def owner_directory_build(*, salesforce_users: list[dict], hubspot_owners: list[dict]) -> OwnerDirectory:
    return OwnerDirectory(
        salesforce_user_emails={
            user["Id"]: user["Email"].strip().lower()
            for user in salesforce_users
            if user.get("Email") and user.get("IsActive", True)
        },
        hubspot_owner_ids={owner["email"].strip().lower(): str(owner["id"]) for owner in hubspot_owners if owner.get("email")},
    )


def _shown(value, *, limit: int = 60) -> str:
    """``value`` for an error message: its repr (control characters escaped), cut to ``limit``."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (Python's int_max_str_digits)
        return "a number too long to show"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value_check(value, *, field: str) -> None:
    """Raise a ``MappingError`` for a value neither CRM can store, whatever the mapping's type:
    text holding NUL, another control character (TAB, LF and CR are fine) or an unpaired
    surrogate, or an integer too long even to write out."""
    if isinstance(value, str):
        character = rules.unstorable_character(value)
        if character is not None:
            raise MappingError(field=field, message=f"{field} contains {character}, which Salesforce and HubSpot cannot store")
    elif isinstance(value, int) and value.bit_length() > 64:
        try:
            str(value)
        except ValueError:  # beyond Python's int_max_str_digits (4,300 digits)
            raise MappingError(field=field, message=f"{OUT_OF_RANGE}: {field} holds a number of thousands of digits") from None


def _number_text(value, *, field: str) -> str:
    """A Salesforce number as HubSpot's number text; HubSpot holds any finite IEEE double."""
    try:
        number = float(value)
    except OverflowError:  # an int beyond the largest double
        raise MappingError(field=field, message=f"{OUT_OF_RANGE}: {_shown(value)} is too large for a HubSpot number") from None
    except (TypeError, ValueError):
        raise MappingError(field=field, message=f"{_shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise MappingError(field=field, message=f"{OUT_OF_RANGE}: {_shown(value)} is not a finite number")
    return str(int(number)) if number.is_integer() and abs(number) < 2**63 else repr(number)


def _salesforce_number(text: str, *, field: str) -> int | float:
    """HubSpot's number text as a Salesforce number: exact when whole, within 18 digits."""
    try:
        try:
            number = Decimal(text)
        except InvalidOperation:  # not a number, or an exponent beyond Decimal's ("1e9999999999999999999")
            number = Decimal(float(text))
    except ValueError:
        raise MappingError(field=field, message=f"{_shown(text)} is not a number") from None
    if not number.is_finite():
        raise MappingError(field=field, message=f"{OUT_OF_RANGE}: {_shown(text)} is not a finite number")
    if number.adjusted() >= SALESFORCE_NUMBER_DIGITS:
        raise MappingError(
            field=field, message=f"{OUT_OF_RANGE}: {_shown(text)} is larger than a Salesforce number holds (18 digits)"
        )
    return int(number) if number == number.to_integral_value() else float(number)


def _date_text(value, *, field: str) -> str:
    """A Salesforce date stays ``YYYY-MM-DD`` (HubSpot date: midnight UTC); a datetime becomes epoch ms."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return str(int(moment.timestamp() * 1000))
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    moment = rules.as_instant(text)
    if moment is None:
        raise MappingError(field=field, message=f"{_shown(value)} is not a date")
    return str(int(moment.timestamp() * 1000))


def salesforce_to_hubspot_value(*, mapping, value, owners: OwnerDirectory | None = None) -> str | None:
    """The HubSpot value for Salesforce ``value`` of ``mapping``'s field.

    ``""`` clears the property. None means there is no counterpart to write (an owner whose
    e-mail has no HubSpot owner): HubSpot's value is left alone. Raises ``MappingError``.
    """
    name = mapping.salesforce_field
    _value_check(value, field=name)
    if rules.value_is_blank(value):
        return ""
    if mapping.field_type == FieldType.NUMBER:
        return _number_text(value, field=name)
    if mapping.field_type == FieldType.DATE:
        return _date_text(value, field=name)
    if mapping.field_type == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return "true" if value else "false"
        raise MappingError(field=name, message=f"{_shown(value)} is not a checkbox value")
    if mapping.field_type == FieldType.OWNER:
        return owners.hubspot_owner_for(value) if owners is not None else None
    if mapping.field_type == FieldType.ENUMERATION:
        # The value map goes HubSpot option → Salesforce picklist value. Without a map the values
        # are the same on both sides (HubSpot says whether one is not among its options).
        if not mapping.value_map:
            return str(value)
        reverse = {picklist: option for option, picklist in mapping.value_map.items()}
        parts = str(value).split(";")
        unmapped = [part for part in parts if part not in reverse]
        if unmapped:
            raise MappingError(
                field=name,
                category=ErrorCategory.INVALID_PICKLIST_VALUE,
                message=f"{', '.join(unmapped)} (Salesforce {name}) has no HubSpot {mapping.hubspot_property} option "
                "in the mapping's value map",
            )
        return ";".join(reverse[part] for part in parts)
    text = str(value)
    if mapping.hubspot_property == DOMAIN_PROPERTY:
        domain = rules.normalise_domain(text)
        if not domain:
            raise MappingError(field=name, message=f"{_shown(text)} has no valid web domain")
        return domain
    return text


def _synced_pair(*, hubspot, salesforce) -> dict:
    """One mapping's snapshot entry, storable in jsonb: the value this side was not mapped from
    is whatever the other CRM holds, NUL bytes and all (``rules.json_storable``)."""
    return rules.json_storable({rules.HUBSPOT: hubspot, rules.SALESFORCE: salesforce})


@dataclass
class CompanyWrite:
    """What syncing one account to its company comes to."""

    properties: dict[str, str] = field(default_factory=dict)  # HubSpot properties to write
    changes: dict[str, list] = field(default_factory=dict)  # {property: [old, new]}
    conflicts: list[str] = field(default_factory=list)  # Two-way ties resolved for Salesforce
    snapshot: dict[str, dict] = field(default_factory=dict)  # the record's next synced_values
    errors: list[MappingError] = field(default_factory=list)


def account_to_company_write(
    *,
    account: dict,
    mappings: list,
    hubspot_properties: dict,
    synced_values: dict,
    hubspot_changed_at: datetime | None,
    salesforce_changed_at: datetime | None,
    owners: OwnerDirectory | None,
    force: bool = False,
) -> CompanyWrite:
    """The Salesforce → HubSpot half of each mapping's sync rule (SPEC §3) for one record.

    ``hubspot_properties`` are the company's current values ({} for a new company). The
    snapshot moves only for fields settled here; a field HubSpot should win keeps its old
    snapshot so that the HubSpot → Salesforce side still sees it as changed. ``force`` writes
    the Salesforce value even when unchanged (bulk resync of a mapping), where the rule lets
    Salesforce's value flow.
    """
    write = CompanyWrite(snapshot=dict(synced_values))
    for mapping in mappings:
        if mapping.sync_rule == SyncRule.DONT_SYNC:
            continue
        prop = mapping.hubspot_property
        salesforce_value = account.get(mapping.salesforce_field)
        hubspot_value = hubspot_properties.get(prop)
        try:
            mapped = salesforce_to_hubspot_value(mapping=mapping, value=salesforce_value, owners=owners)
        except MappingError as error:
            write.errors.append(error)
            continue
        if mapped is None:
            continue  # no counterpart in HubSpot (yet): nothing is settled, the snapshot stays
        equal = rules.values_same(mapped, hubspot_value)
        decision = rules.field_decide(
            rule=mapping.sync_rule,
            hubspot_value=hubspot_value,
            salesforce_value=salesforce_value,
            synced=synced_values.get(prop),
            hubspot_changed_at=hubspot_changed_at,
            salesforce_changed_at=salesforce_changed_at,
            values_equal=equal,
        )
        if decision.writes_salesforce:
            continue
        if decision.writes_hubspot or force:
            write.properties[prop] = mapped
            if not equal:
                write.changes[prop] = [rules.json_storable(hubspot_value), mapped]
            if decision.conflict:
                write.conflicts.append(prop)
            write.snapshot[prop] = _synced_pair(hubspot=mapped, salesforce=salesforce_value)
        else:
            write.snapshot[prop] = _synced_pair(hubspot=hubspot_value, salesforce=salesforce_value)
    return write


# --- HubSpot → Salesforce -----------------------------------------------------------------------


def hubspot_to_salesforce_value(*, mapping, value, owners: OwnerDirectory | None = None):
    """The Salesforce value for HubSpot ``value`` of ``mapping``'s property.

    None clears the field; ``KEEP`` means there is no counterpart (an owner whose e-mail is no
    active Salesforce user's): Salesforce's value is left alone. Raises ``MappingError``.
    """
    name = mapping.hubspot_property
    _value_check(value, field=name)
    if rules.value_is_blank(value):
        return None
    text = str(value).strip()
    if mapping.field_type == FieldType.NUMBER:
        return _salesforce_number(text, field=name)
    if mapping.field_type == FieldType.DATE:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return text
        moment = rules.as_instant(text)
        if moment is None:
            raise MappingError(field=name, message=f"{_shown(value)} is not a date")
        try:
            moment = moment.astimezone(timezone.utc)
        except OverflowError:  # "9999-12-31T23:59:59-14:00" is in year 10000 in UTC
            raise MappingError(field=name, message=f"{OUT_OF_RANGE}: {_shown(value)} is not a date Salesforce can hold") from None
        # HubSpot keeps a date as midnight UTC: that is a Salesforce date, not a moment.
        if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return moment.date().isoformat()
        return moment.isoformat().replace("+00:00", "Z")
    if mapping.field_type == FieldType.BOOLEAN:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise MappingError(field=name, message=f"{_shown(value)} is not a checkbox value")
    if mapping.field_type == FieldType.OWNER:
        user_id = owners.salesforce_user_for(text) if owners is not None else None
        return user_id if user_id is not None else KEEP
    if mapping.field_type == FieldType.ENUMERATION:
        value_map = mapping.value_map or {}
        return ";".join(value_map.get(part, part) for part in text.split(";"))
    return text


KEEP = object()  # hubspot_to_salesforce_value: no counterpart, leave Salesforce's value alone


def _salesforce_equal(mapping, mapped, salesforce_value) -> bool:
    if mapping.hubspot_property == DOMAIN_PROPERTY:
        return rules.normalise_domain(str(mapped or "")) == rules.normalise_domain(str(salesforce_value or ""))
    return rules.values_same(mapped, salesforce_value)


@dataclass
class AccountWrite:
    """What syncing one company to its account comes to."""

    fields: dict = field(default_factory=dict)  # Salesforce fields to write
    changes: dict[str, list] = field(default_factory=dict)  # {field: [old, new]}
    contested: list[str] = field(default_factory=list)  # Two-way: changed on both sides, HubSpot's latest
    snapshot: dict[str, dict] = field(default_factory=dict)  # the record's next synced_values
    errors: list[MappingError] = field(default_factory=list)


def company_to_account_write(
    *,
    company_properties: dict,
    mappings: list,
    account: dict,
    synced_values: dict,
    hubspot_changed_at: datetime | None,
    salesforce_changed_at: datetime | None,
    owners: OwnerDirectory | None,
    force: bool = False,
) -> AccountWrite:
    """The HubSpot → Salesforce half of each mapping's sync rule (SPEC §3) for one record.

    ``account`` holds the account's current values ({} for a new account). The snapshot moves
    only for fields settled here; a field Salesforce should win keeps its old snapshot, so the
    Salesforce → HubSpot side still sees it as changed. ``force`` (bulk resync, R9) writes the
    HubSpot value even when unchanged, where the rule lets HubSpot's value flow at all.
    """
    write = AccountWrite(snapshot=dict(synced_values))
    for mapping in mappings:
        if mapping.sync_rule in (SyncRule.DONT_SYNC, SyncRule.ALWAYS_USE_SALESFORCE):
            continue
        prop, name = mapping.hubspot_property, mapping.salesforce_field
        hubspot_value, salesforce_value = company_properties.get(prop), account.get(name)
        try:
            mapped = hubspot_to_salesforce_value(mapping=mapping, value=hubspot_value, owners=owners)
        except MappingError as error:
            write.errors.append(error)
            continue
        equal = mapped is not KEEP and _salesforce_equal(mapping, mapped, salesforce_value)
        decision = rules.field_decide(
            rule=mapping.sync_rule,
            hubspot_value=hubspot_value,
            salesforce_value=salesforce_value,
            synced=synced_values.get(prop),
            hubspot_changed_at=hubspot_changed_at,
            salesforce_changed_at=salesforce_changed_at,
            values_equal=equal,
        )
        if decision.writes_hubspot:
            continue
        # Forced, HubSpot's value still only fills a blank field under "Prefer Salesforce unless blank".
        may_force = force and (mapping.sync_rule == SyncRule.TWO_WAY or rules.value_is_blank(salesforce_value))
        if (decision.writes_salesforce or may_force) and mapped is not KEEP:
            write.fields[name] = mapped
            if not equal:
                write.changes[name] = [rules.json_storable(salesforce_value), mapped]
            if decision.contested:
                write.contested.append(name)
            write.snapshot[prop] = _synced_pair(hubspot=hubspot_value, salesforce=mapped)
        else:
            write.snapshot[prop] = _synced_pair(hubspot=hubspot_value, salesforce=salesforce_value)
    return write
