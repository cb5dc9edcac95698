"""One full sync cycle in this process, no worker needed: detect changes on both sides, then run
every pending sync job in burst mode (as ``rqworker --burst`` would)."""

import django_rq
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone
from rq import SimpleWorker

from sync import detection, services
from sync.models import SyncEvent

QUEUES = ("sync", "bulk", "default")


class Command(BaseCommand):
    help = "Run one sync cycle now (both directions) and every job it leaves pending; exit 0 when none is left."

    def handle(self, *args, **options):
        started = timezone.now()
        try:
            detected = detection.sync_cycle_run()
        except services.SyncUnavailable as error:
            raise CommandError(str(error)) from error
        for side, counts in detected.items():
            self.stdout.write(f"{side}: " + ", ".join(f"{count} {what}" for what, count in counts.items()))

        queues = [django_rq.get_queue(name) for name in QUEUES]
        failed_before = sum(queue.failed_job_registry.count for queue in queues)
        SimpleWorker(queues, connection=queues[0].connection).work(burst=True, logging_level="WARNING")
        failed_jobs = sum(queue.failed_job_registry.count for queue in queues) - failed_before

        outcomes = (
            SyncEvent.objects.filter(created_at__gte=started)
            .values("direction", "outcome")
            .annotate(records=Count("id"))
            .order_by("direction", "outcome")
        )
        for row in outcomes:
            self.stdout.write(f"{SyncEvent(direction=row['direction']).get_direction_display()}: "
                              f"{row['records']} {row['outcome']}")
        if not outcomes:
            self.stdout.write("Nothing to sync.")
        if failed_jobs:
            self.stderr.write(f"{failed_jobs} job(s) failed; see the RQ failed job registry.")
        pending = sum(queue.count for queue in queues)
        if pending:
            raise CommandError(f"{pending} job(s) still pending")
        self.stdout.write(self.style.SUCCESS("Done: nothing left pending."))
