"""``manage.py rqcron_forever sync.cron``: django-rq's ``rqcron``, but a Redis outage does not end
it (see ``crmsync.workers.CronScheduler``)."""

import logging

from django_rq.management.commands import rqcron

from crmsync.workers import CronScheduler


class Command(rqcron.Command):
    help = "Run RQ's cron scheduler; it waits for Redis to come back instead of exiting."

    def handle(self, *args, **options):
        scheduler = CronScheduler(logging_level=getattr(logging, options["logging_level"]))
        scheduler.load_config_from_file(options["config_path"])
        self.stdout.write(self.style.SUCCESS(f"Starting cron scheduler with {len(scheduler.get_jobs())} jobs..."))
        scheduler.start()
