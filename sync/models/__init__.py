"""crmsync's models, by concern; ``from sync.models import X`` is how the rest of the code names them.

The choices (``sync.choices``) are importable from here too, as the models use them."""

from sync.choices import (
    DefaultObject,
    Direction,
    ErrorCategory,
    FieldType,
    ObjectType,
    SalesforceContactType,
    SyncRule,
    SyncStatus,
)
from sync.models.configuration import (
    ConfigurationProblem,
    Connection,
    FieldMapping,
    IntegrationSettings,
    SchemaField,
    SettingsChange,
)
from sync.models.log import SyncError, SyncEvent, SyncEventCount, SyncRun
from sync.models.records import Company, Contact
from sync.models.work import (
    AlertCause,
    AlertSettings,
    AlertState,
    AlertSubscription,
    ApiUsageHour,
    SyncState,
    WebhookEvent,
    WorkUnit,
)

__all__ = [
    "DefaultObject",
    "Direction",
    "ErrorCategory",
    "FieldType",
    "ObjectType",
    "SalesforceContactType",
    "SyncRule",
    "SyncStatus",
    "IntegrationSettings",
    "FieldMapping",
    "SettingsChange",
    "Connection",
    "SchemaField",
    "ConfigurationProblem",
    "Company",
    "Contact",
    "SyncRun",
    "SyncEvent",
    "SyncEventCount",
    "SyncError",
    "SyncState",
    "WebhookEvent",
    "WorkUnit",
    "ApiUsageHour",
    "AlertCause",
    "AlertSettings",
    "AlertSubscription",
    "AlertState",
]
