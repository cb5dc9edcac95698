"""crmsync's own errors for everything that can go wrong talking to a CRM.

Callers never see an SDK exception: the clients turn each one into one of these, keeping the
CRM's message verbatim in ``.message`` and its error code (or the HTTP status) in ``.code``.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from sync.choices import ErrorCategory


class CrmError(Exception):
    """A call to a CRM failed. ``crm`` is "salesforce" or "hubspot"."""

    def __init__(self, message: str, *, crm: str, code: str | int | None = None) -> None:
        super().__init__(message)
        self.crm = crm
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.crm} {self.code}: {self.message}" if self.code else f"{self.crm}: {self.message}"


class Transient(CrmError):
    """5xx, timeouts, dropped connections: still failing after the client's retries."""


class RateLimited(Transient):
    """429 (or HubSpot's TEN_SECONDLY_ROLLING policy) still answered after the retries."""

    category = ErrorCategory.API_LIMIT

    def __init__(self, message: str, *, crm: str, code: str | int | None = 429, retry_after: float | None = None) -> None:
        super().__init__(message, crm=crm, code=code)
        self.retry_after = retry_after


class ConfigurationBlocked(Transient):
    """A whole call refused for a configuration cause already recorded once, as a configuration
    problem (a mapping suspended, a field crmsync itself needs gone): its work is tried again
    later, and its records get no error of their own (one problem per cause, not one per record)."""

    category = ErrorCategory.CONFIGURATION


class ApiLimitExceeded(CrmError):
    """Salesforce's daily API limit (403 REQUEST_LIMIT_EXCEEDED) or crmsync's own share of it is used up."""

    category = ErrorCategory.API_LIMIT


class Unauthorized(CrmError):
    """Authentication failed even after a refresh of the session."""

    category = ErrorCategory.AUTHENTICATION


class Rejected(CrmError):
    """The CRM refused this input: ``category`` is an ErrorCategory value, ``fields`` the fields it named."""

    def __init__(
        self,
        message: str,
        *,
        crm: str,
        code: str | int | None = None,
        category: str = ErrorCategory.OTHER,
        fields: list[str] | None = None,
    ) -> None:
        super().__init__(message, crm=crm, code=code)
        self.category = category
        self.fields = list(fields or [])


class Cancelled(Exception):
    """The work under way was cancelled (``sync.clients.watching``); a Bulk API job in flight was
    aborted. Not a CRM failure: nothing is retried and no record gets an error."""


class NotConfigured(ImproperlyConfigured):
    """A setting, a Salesforce field or a HubSpot property crmsync needs is missing; the message names it."""
