"""R8: lifecycle stage order; companies move forward to the furthest stage among their contacts."""

from sync import rules_contacts


def test_r08_order_is_hubspots_funnel():
    assert [rules_contacts.lifecycle_rank(s) for s in rules_contacts.LIFECYCLE_ORDER] == list(range(7))
    assert rules_contacts.lifecycle_rank("other") == rules_contacts.lifecycle_rank("") == rules_contacts.lifecycle_rank(None) == -1


def test_r08_furthest_among_contacts():
    assert rules_contacts.lifecycle_furthest(["lead", "customer", "opportunity", None, "other"]) == "customer"
    assert rules_contacts.lifecycle_furthest([None, "", "other"]) is None


def test_r08_stages_only_move_forward():
    assert rules_contacts.lifecycle_can_move(current="lead", new="opportunity")
    assert not rules_contacts.lifecycle_can_move(current="customer", new="lead")
    assert not rules_contacts.lifecycle_can_move(current="lead", new="lead")
    assert rules_contacts.lifecycle_can_move(current="other", new="subscriber")
    assert not rules_contacts.lifecycle_can_move(current="lead", new="other")


def test_r08_company_target_is_furthest_contact_stage_or_nothing():
    assert rules_contacts.company_lifecycle_target(company_stage="lead", contact_stages=["subscriber", "salesqualifiedlead"]) == "salesqualifiedlead"
    assert rules_contacts.company_lifecycle_target(company_stage="customer", contact_stages=["lead", "opportunity"]) is None
    assert rules_contacts.company_lifecycle_target(company_stage=None, contact_stages=[]) is None
