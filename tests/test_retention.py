"""The sync log and finished work units are pruned past their retention, and only they."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync import jobs, recording
from sync.models import SyncEvent, WorkUnit
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def test_retention_prunes_only_what_is_older(settings, monkeypatch):
    settings.LOG_RETENTION_DAYS = 90
    monkeypatch.setattr(recording, "PRUNE_CHUNK", 2)  # several chunks
    company = CompanyFactory()
    now = timezone.now()
    events = SyncEvent.objects.bulk_create(
        SyncEvent(company=company, direction="sf_to_hs", action="update", outcome="success") for _ in range(7)
    )
    old = [e.id for e in events[:5]]
    SyncEvent.objects.filter(id__in=old).update(created_at=now - timedelta(days=91))
    SyncEvent.objects.filter(id=events[5].id).update(created_at=now - timedelta(days=89))
    unit = {"kind": WorkUnit.Kind.WEBHOOK_EVENTS, "payload": {"event_ids": []}, "next_attempt_at": now}
    done_old = WorkUnit.objects.create(**unit, state="done", finished_at=now - timedelta(days=8))
    done_new = WorkUnit.objects.create(**unit, state="done", finished_at=now - timedelta(days=6))
    pending_old = WorkUnit.objects.create(**unit, state="pending")
    WorkUnit.objects.filter(id=pending_old.id).update(created_at=now - timedelta(days=30))

    jobs.history_prune()

    assert sorted(SyncEvent.objects.values_list("id", flat=True)) == [events[5].id, events[6].id]
    assert set(WorkUnit.objects.values_list("id", flat=True)) == {done_new.id, pending_old.id}  # pending work never goes
    assert not WorkUnit.objects.filter(id=done_old.id).exists()
