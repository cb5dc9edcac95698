"""Thin RQ entry points: take IDs, call one service, safe to run twice."""

from sync import services


def worker_heartbeat() -> None:
    """Run by RQ's cron: proves that the cron and at least one worker are alive."""
    services.worker_heartbeat_record()
