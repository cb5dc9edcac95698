"""Choice sets shared by models, forms and the pure rules."""

from django.db import models


class DefaultObject(models.TextChoices):
    CONTACT = "contact", "Contact"
    LEAD = "lead", "Lead"


class SyncRule(models.TextChoices):
    PREFER_SALESFORCE_UNLESS_BLANK = "prefer_salesforce_unless_blank", "Prefer Salesforce unless blank"
    ALWAYS_USE_SALESFORCE = "always_use_salesforce", "Always use Salesforce"
    TWO_WAY = "two_way", "Two-way"
    DONT_SYNC = "dont_sync", "Don't sync"


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    ENUMERATION = "enumeration", "Enumeration ↔ picklist"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Checkbox ↔ boolean"
    OWNER = "owner", "Owner ↔ user (by e-mail)"


class Direction(models.TextChoices):
    SALESFORCE_TO_HUBSPOT = "sf_to_hs", "Salesforce → HubSpot"
    HUBSPOT_TO_SALESFORCE = "hs_to_sf", "HubSpot → Salesforce"


class ObjectType(models.TextChoices):
    COMPANY = "company", "Company / Account"
    CONTACT = "contact", "Contact / Lead"


class SyncStatus(models.TextChoices):
    NEVER = "never", "Never synced"
    PENDING = "pending", "Pending"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"
    DELETED_IN_SALESFORCE = "deleted_in_salesforce", "Deleted in Salesforce"


class SalesforceContactType(models.TextChoices):
    NONE = "", "Not in Salesforce"
    LEAD = "lead", "Lead"
    CONTACT = "contact", "Contact with an account"
    PRIVATE_CONTACT = "private_contact", "Private contact (no account)"


class ErrorCategory(models.TextChoices):
    VALIDATION_RULE = "validation_rule", "Salesforce validation rule"
    REQUIRED_FIELD_MISSING = "required_field_missing", "Required field missing"
    VALUE_TOO_LONG = "value_too_long", "Value too long"
    INVALID_PICKLIST_VALUE = "invalid_picklist_value", "Invalid picklist value"
    DUPLICATE_RULE = "duplicate_rule", "Duplicate rule"
    PERMISSION = "permission", "Permission"
    API_LIMIT = "api_limit", "API limit reached"
    AUTHENTICATION = "authentication", "Authentication"
    HUBSPOT_PROPERTY = "hubspot_property", "HubSpot property error"
    NOT_FOUND = "not_found", "Not found / deleted"
    CONFIGURATION = "configuration", "Configuration"
    OTHER = "other", "Other"
