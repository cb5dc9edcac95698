"""Times in the admin's time zone: the browser tells it (static/js/app.js sets the ``tz`` cookie),
Django's template filters convert every aware datetime to it."""

import zoneinfo
from urllib.parse import unquote

from django.utils import timezone


def admin_time_zone(get_response):
    def middleware(request):
        name = unquote(request.COOKIES.get("tz", ""))  # the script URI-encodes it (Europe%2FRome)
        try:
            zone = zoneinfo.ZoneInfo(name) if name and len(name) < 64 else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return get_response(request)

    return middleware
