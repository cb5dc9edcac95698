"""Pure decisions of the sync: no I/O, no database. Each function is tested on its own."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sync.choices import FieldType, SyncRule


def normalise_domain(value: str | None) -> str:
    """A website or domain as R10 compares it: no scheme, no ``www.``, no path or port, lower case."""
    if not value:
        return ""
    text = value.strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if re.fullmatch(r"[a-z0-9\-\.\u00a1-\uffff]+", host) and "." in host else ""


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


def allowed_sync_rules(field_type: str) -> list[str]:
    """Owner maps two-way only (or not at all); every other type may use any of the four rules."""
    if field_type == FieldType.OWNER:
        return [SyncRule.TWO_WAY, SyncRule.DONT_SYNC]
    return list(SyncRule.values)
