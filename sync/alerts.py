"""Alerts to admins: by e-mail (Django's e-mail backend) and, optionally, a signed JSON POST to an
outgoing webhook (chat tools), when a cause appears: a new kind of sync error, a suspension (of
the integration, of one mapping whose field is unusable, or a field crmsync needs gone), workers
stopping. At most one alert per cause per ``ALERT_REPEAT_SECONDS``.

Run every minute by the cron on a worker (``jobs.alerts_check``). When every worker is down no
worker runs it: the stale heartbeat is then /healthz's 503 for the monitor, and the alert goes
out once a worker runs the check again while the heartbeat is still stale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from sync import selectors, selectors_dashboard, selectors_health, selectors_log
from sync.models import AlertCause, AlertSettings, AlertState, AlertSubscription, ErrorCategory, SyncError

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Crmsync-Signature"


@dataclass(frozen=True)
class Alert:
    key: str  # one cause: "new_error_category:value_too_long", "suspension:api_limit", "workers_stopped"
    cause: str  # an AlertCause
    subject: str
    text: str


def alerts_current(*, now: datetime) -> list[Alert]:
    """Every cause that holds now, whether or not it was alerted already."""
    labels = dict(ErrorCategory.choices)
    open_counts = dict(
        SyncError.objects.filter(status=SyncError.Status.OPEN).order_by().values_list("category").annotate(n=Count("id"))
    )
    alerts = []
    for category, n in sorted(open_counts.items()):
        label = labels.get(category, category)
        if category in selectors_dashboard.SUSPENDING_CATEGORIES:
            alerts.append(Alert(
                f"suspension:{category}", AlertCause.SUSPENSION, f"crmsync is suspended: {label}",
                f"{n:,} open sync error(s) of the category “{label}” stop the integration. {selectors_log.ERROR_FIXES[category]}",
            ))
        else:
            alerts.append(Alert(
                f"new_error_category:{category}", AlertCause.NEW_ERROR_CATEGORY, f"crmsync: new sync errors: {label}",
                f"{n:,} open sync error(s) of the category “{label}”. {selectors_log.ERROR_FIXES[category]}",
            ))
    for problem in selectors.mapping_suspensions():
        what = (f"the mapping {problem.mapping.hubspot_property} ↔ {problem.mapping.salesforce_field} is suspended"
                if problem.mapping else "a field crmsync needs is missing")
        alerts.append(Alert(
            f"suspension:{problem.crm}:{problem.field}", AlertCause.SUSPENSION, f"crmsync: {what}",
            f"{problem.get_crm_display()} {problem.field}: {problem.message} {problem.fix}",
        ))
    for usage in selectors_health.api_usage():
        if usage["paused"]:
            alerts.append(Alert(
                "suspension:api_budget", AlertCause.SUSPENSION, f"crmsync paused: {usage['crm']} API budget used",
                f"crmsync used {usage['used']:,} of the {usage['allocated']:,} {usage['crm']} API calls allocated to it today. "
                "Changes are queued and sync again when the budget resets.",
            ))
    heartbeat = selectors.sync_state_time(key="worker_heartbeat")
    if heartbeat is not None and (now - heartbeat).total_seconds() > settings.HEARTBEAT_MAX_AGE_SECONDS:
        alerts.append(Alert(
            "workers_stopped", AlertCause.WORKERS_STOPPED, "crmsync: the workers stopped",
            f"No worker heartbeat since {heartbeat:%Y-%m-%d %H:%M:%S %Z}: nothing syncs until a worker runs again "
            "(manage.py rqworker default sync bulk) and the cron runs (manage.py rqcron_forever sync.cron).",
        ))
    return alerts


def alerts_check(*, now: datetime | None = None) -> list[str]:
    """Send the alerts whose cause just appeared (and was not alerted within the repeat time);
    remember which causes hold, so a cause that stays does not alert again. Returns the keys sent."""
    now = now or timezone.now()
    current = {alert.key: alert for alert in alerts_current(now=now)}
    repeat = timedelta(seconds=settings.ALERT_REPEAT_SECONDS)
    sent = []
    with transaction.atomic():
        states = {state.key: state for state in AlertState.objects.select_for_update().filter(key__in=list(current))}
        AlertState.objects.exclude(key__in=list(current)).filter(active=True).update(active=False, updated_at=now)
        for key, alert in current.items():
            state = states.get(key) or AlertState(key=key)
            due = not state.active and (state.last_sent_at is None or now - state.last_sent_at >= repeat)
            state.active = True
            if due:
                state.last_sent_at = now
                sent.append(alert)
            state.save()
    for alert in sent:  # after the commit: a slow mail server holds no lock
        alert_send(alert=alert)
    return [alert.key for alert in sent]


def alert_recipients(*, cause: str) -> list[str]:
    return list(
        get_user_model().objects.filter(
            is_active=True, is_staff=True, alert_subscriptions__cause=cause
        ).exclude(email="").values_list("email", flat=True)
    )


def alert_send(*, alert: Alert) -> None:
    recipients = alert_recipients(cause=alert.cause)
    if recipients:
        try:
            send_mail(alert.subject, alert.text, settings.DEFAULT_FROM_EMAIL, recipients)
        except OSError as error:
            logger.warning("alerts.email_failed", extra={"alert": alert.key, "error": type(error).__name__})
    config = AlertSettings.load()
    if config.webhook_url and alert.cause in config.webhook_causes:
        alert_webhook_post(url=config.webhook_url, alert=alert)
    logger.info("alerts.sent", extra={"alert": alert.key, "recipients": len(recipients)})


def webhook_signature(*, body: bytes) -> str:
    """``sha256=<hex HMAC of the body>`` with CRMSYNC_ALERT_WEBHOOK_SECRET; empty without a secret."""
    secret = settings.ALERT_WEBHOOK_SECRET
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() if secret else ""


def alert_webhook_post(*, url: str, alert: Alert) -> bool:
    """POST the alert as JSON (``text`` is what Slack-style incoming webhooks show). Never raises."""
    body = json.dumps({"cause": alert.cause, "key": alert.key, "title": alert.subject, "text": f"{alert.subject}\n{alert.text}"}).encode()
    headers = {"Content-Type": "application/json"}
    signature = webhook_signature(body=body)
    if signature:
        headers[SIGNATURE_HEADER] = signature
    try:
        response = requests.post(url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        logger.warning("alerts.webhook_failed", extra={"alert": alert.key, "error": type(error).__name__})
        return False
    if response.status_code >= 300:
        logger.warning("alerts.webhook_refused", extra={"alert": alert.key, "status": response.status_code})
    return response.status_code < 300


@transaction.atomic
def alert_settings_save(*, subscriptions: dict[int, list[str]], webhook_url: str, webhook_causes: list[str]) -> None:
    """The alert settings page: per admin the causes they get by e-mail; the webhook and its causes."""
    AlertSubscription.objects.exclude(user_id__in=list(subscriptions)).delete()
    for user_id, causes in subscriptions.items():
        AlertSubscription.objects.filter(user_id=user_id).exclude(cause__in=causes).delete()
        for cause in causes:
            AlertSubscription.objects.get_or_create(user_id=user_id, cause=cause)
    config = AlertSettings.load()
    config.webhook_url, config.webhook_causes = webhook_url, webhook_causes
    config.save()
