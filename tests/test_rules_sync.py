"""Pure tests of the sync-rule decision (SPEC §3), matching (R10) and eligibility (R3, R4)."""

from datetime import datetime, timedelta, timezone

import pytest

from sync.choices import Direction, SyncRule
from sync.rules import field_decide, values_same
from sync.rules_matching import CompanyCandidate, account_should_create_company, match_company

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=5)
TO_HS, TO_SF = Direction.SALESFORCE_TO_HUBSPOT, Direction.HUBSPOT_TO_SALESFORCE


def decide(rule, hubspot, salesforce, synced=None, **times):
    return field_decide(rule=rule, hubspot_value=hubspot, salesforce_value=salesforce, synced=synced, **times)


def snap(hubspot, salesforce):
    return {"hubspot": hubspot, "salesforce": salesforce}


# Prefer Salesforce unless blank -----------------------------------------------------------------

def test_r11_prefer_salesforce_value_overwrites_hubspot():
    assert decide(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "Old", "New", snap("Old", "Old")).direction == TO_HS


def test_r11_prefer_salesforce_value_wins_even_when_only_hubspot_changed():
    decision = decide(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "Edited in HS", "Acme", snap("Acme", "Acme"))
    assert decision.direction == TO_HS


def test_r11_prefer_salesforce_clearing_salesforce_clears_hubspot():
    decision = decide(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "Acme", "", snap("Acme", "Acme"))
    assert decision.direction == TO_HS


def test_r11_prefer_salesforce_hubspot_fills_blank_salesforce():
    assert decide(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "555", None).direction == TO_SF
    assert decide(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "555", "", snap("", "")).direction == TO_SF


def test_r11_prefer_salesforce_both_blank_writes_nothing():
    assert decide(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "", None).direction is None


# Always use Salesforce --------------------------------------------------------------------------

def test_r11_always_salesforce_overwrites_and_clears():
    assert decide(SyncRule.ALWAYS_USE_SALESFORCE, "HS", "SF", snap("SF", "SF")).direction == TO_HS
    assert decide(SyncRule.ALWAYS_USE_SALESFORCE, "SF", " ", snap("SF", "SF")).direction == TO_HS


def test_r11_always_salesforce_never_writes_salesforce_even_when_blank():
    assert decide(SyncRule.ALWAYS_USE_SALESFORCE, "HS value", "").direction is None
    assert decide(SyncRule.ALWAYS_USE_SALESFORCE, "HS new", "", snap("HS old", "")).direction is None


# Two-way ----------------------------------------------------------------------------------------

def test_r11_two_way_change_on_one_side_flows_to_the_other():
    assert decide(SyncRule.TWO_WAY, "A", "B", snap("A", "A")).direction == TO_HS
    assert decide(SyncRule.TWO_WAY, "B", "A", snap("A", "A")).direction == TO_SF


def test_r11_two_way_clearing_one_side_clears_the_other():
    assert decide(SyncRule.TWO_WAY, "A", None, snap("A", "A")).direction == TO_HS
    assert decide(SyncRule.TWO_WAY, "", "A", snap("A", "A")).direction == TO_SF


def test_r11_two_way_latest_change_wins():
    both = snap("A", "A")
    assert decide(SyncRule.TWO_WAY, "H", "S", both, hubspot_changed_at=LATER, salesforce_changed_at=T0).direction == TO_SF
    assert decide(SyncRule.TWO_WAY, "H", "S", both, hubspot_changed_at=T0, salesforce_changed_at=LATER).direction == TO_HS


def test_r11_two_way_tie_goes_to_salesforce_as_a_conflict():
    decision = decide(SyncRule.TWO_WAY, "H", "S", snap("A", "A"), hubspot_changed_at=T0, salesforce_changed_at=T0)
    assert decision.direction == TO_HS and decision.conflict
    assert decide(SyncRule.TWO_WAY, "H", "S", snap("A", "A")).conflict  # unknown times count as a tie


def test_r11_two_way_unchanged_is_not_an_echo():
    # crmsync wrote 100 to HubSpot; HubSpot answers "100.0": that is the snapshot, not a change.
    assert decide(SyncRule.TWO_WAY, "100.0", 100, snap("100", 100)).direction is None


def test_r11_two_way_agreeing_values_are_no_conflict():
    decision = decide(SyncRule.TWO_WAY, "X", "X", None, values_equal=True)
    assert decision.direction is None and not decision.conflict


def test_r11_dont_sync_never_writes():
    assert decide(SyncRule.DONT_SYNC, "A", "B", snap("", "")).direction is None
    assert decide(SyncRule.DONT_SYNC, "", "B").direction is None


def test_r11_unknown_rule_is_refused():
    with pytest.raises(ValueError):
        decide("sometimes", "A", "B", snap("", ""))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (None, "", True),
        ("100", 100.0, True),
        ("2026-01-01T10:00:00.000Z", "2026-01-01T10:00:00.000+0000", True),
        ("1767261600000", "2026-01-01T10:00:00Z", True),
        ("Acme", "Acme ", True),
        ("Acme", "acme", False),
        (True, "true", True),
        ("0", "", False),
        ("02134", "2134", False),
        ("+39", "39", False),
        ("0.5", ".5", True),
    ],
)
def test_values_same_ignores_representation(a, b, same):
    assert values_same(a, b) is same


# R10 matching -----------------------------------------------------------------------------------

def candidate(pk, account_id=None, domain="", minutes=0):
    return CompanyCandidate(pk=pk, salesforce_account_id=account_id, domain=domain, created_at=T0 + timedelta(minutes=minutes))


def test_r10_match_by_account_id_first():
    match = match_company(
        account_id="001A", website="acme.com", candidates=[candidate(1, domain="acme.com"), candidate(2, "001A")]
    )
    assert (match.pk, match.by) == (2, "account_id")


def test_r10_match_by_normalised_domain():
    match = match_company(account_id="001A", website="https://WWW.Acme.com/about", candidates=[candidate(7, domain="acme.com")])
    assert (match.pk, match.by, match.possible_duplicates) == (7, "domain", ())


def test_r10_several_domains_oldest_wins_others_flagged():
    candidates = [candidate(3, domain="acme.com", minutes=5), candidate(4, domain="acme.com", minutes=1),
                  candidate(5, domain="acme.com", minutes=9), candidate(6, "001OTHER", "acme.com", minutes=0)]
    match = match_company(account_id="001A", website="acme.com", candidates=candidates)
    assert match.pk == 4 and match.by == "domain" and set(match.possible_duplicates) == {3, 5}


def test_r10_no_match_creates():
    assert match_company(account_id="001A", website="", candidates=[candidate(1, domain="acme.com")]).pk is None
    assert match_company(account_id="001A", website="other.org", candidates=[candidate(1, domain="acme.com")]).by == "none"


# R2, R3, R4 eligibility -------------------------------------------------------------------------

def eligible(**overrides):
    arguments = dict(sync_companies=True, enabled_at=T0, account_created_at=T0 - timedelta(days=1),
                     account_modified_at=T0 - timedelta(days=1), explicit=False)
    return account_should_create_company(**{**arguments, **overrides})


def test_r02_sync_off_creates_nothing_even_when_imported():
    assert not eligible(sync_companies=False, explicit=True)


def test_r03_account_created_after_switch_on_creates_company():
    assert eligible(account_created_at=LATER, account_modified_at=LATER)


def test_r04_old_account_does_not_sync_merely_because_sync_was_switched_on():
    assert not eligible()


def test_r04_old_account_syncs_when_imported_or_changed():
    assert eligible(explicit=True)
    assert eligible(explicit=True, enabled_at=None)
    assert not eligible(enabled_at=None, account_created_at=LATER)
    assert eligible(account_modified_at=LATER)
