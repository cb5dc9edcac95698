"""The sObjects the sandbox knows: Account, Contact, Lead and User with their real API names,
types, lengths, required fields and picklists, plus the org's custom External ID field on Account.

An admin can customise the org through the control API (``org_customise``): add and delete custom
fields, take away field-level access (an unreadable field is absent from describe and SOQL, as in
Salesforce; a read-only one is neither createable nor updateable), change or restrict a picklist,
and take away the object permissions (create/edit). ``sobject()`` answers with the customised
sObject; the sandbox serves one org per process.

The org is configured the way crmsync expects a customer's org to be: Account's ``Industry``,
``Type``, ``Rating``, ``Ownership`` and ``AccountSource`` picklists are restricted (an admin switch
in a real org), so a bad value answers ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
    "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
    "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities", "Other",
)
ACCOUNT_TYPES = (
    "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
    "Installation Partner", "Technology Partner", "Other",
)
RATINGS = ("Hot", "Warm", "Cold")
OWNERSHIPS = ("Public", "Private", "Subsidiary", "Other")
SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Rome", "Asia/Tokyo")
LOCALES = ("en_US", "en_GB", "it_IT", "de_DE", "fr_FR")
LANGUAGES = ("en_US", "it", "de", "fr", "ja")
ENCODINGS = ("UTF-8", "ISO-8859-1")

# Salesforce field type -> SOAP type in describe.
SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "textarea": "xsd:string", "phone": "xsd:string",
    "url": "xsd:string", "email": "xsd:string", "picklist": "xsd:string", "boolean": "xsd:boolean",
    "int": "xsd:int", "double": "xsd:double", "currency": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
NUMERIC_TYPES = ("int", "double", "currency")
TEXT_TYPES = ("string", "textarea", "phone", "url", "email", "picklist", "id", "reference")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False  # createable, not nillable, no default: REQUIRED_FIELD_MISSING when absent
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: str | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    precision: int = 0
    scale: int = 0

    @property
    def system(self) -> bool:
        return not self.createable and not self.updateable

    @property
    def nillable(self) -> bool:
        return not self.required and self.type != "boolean" and self.name not in SYSTEM_NOT_NULL


SYSTEM_NOT_NULL = {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                   "SystemModstamp", "OwnerId", "Name", "Status"}


@dataclass(frozen=True)
class SObject:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    deletable: bool = True
    createable: bool = True
    updateable: bool = True
    by_lower: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        self.by_lower.update({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationship name is ``name`` (``Account`` -> ``AccountId``)."""
        for candidate in self.fields:
            if candidate.relationship_name and candidate.relationship_name.lower() == name.lower():
                return candidate
        return None

    @property
    def has_is_deleted(self) -> bool:
        return self.field("IsDeleted") is not None


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name not in ("Id",) else "Record ID"
    return "".join(" " + ch if ch.isupper() and i else ch for i, ch in enumerate(base)).replace("_", " ").strip()


def text(name, length, **options) -> Field:
    return Field(name, options.pop("type", "string"), length=length, **options)


def picklist(name, values, *, restricted=False, **options) -> Field:
    return Field(name, "picklist", length=255, picklist=tuple(values), restricted=restricted, **options)


def reference(name, to, relationship, **options) -> Field:
    return Field(name, "reference", length=18, reference_to=to, relationship_name=relationship, **options)


def system(name, type_, **options) -> Field:
    length = options.pop("length", 18 if type_ in ("id", "reference") else 0)
    return Field(name, type_, length=length, createable=False, updateable=False, **options)


def audit_fields() -> tuple[Field, ...]:
    return (
        system("CreatedDate", "datetime"),
        system("CreatedById", "reference", reference_to="User", relationship_name="CreatedBy"),
        system("LastModifiedDate", "datetime"),
        system("LastModifiedById", "reference", reference_to="User", relationship_name="LastModifiedBy"),
        system("SystemModstamp", "datetime"),
    )


def address(prefix: str) -> tuple[Field, ...]:
    return (
        text(f"{prefix}Street", 255, type="textarea"),
        text(f"{prefix}City", 40),
        text(f"{prefix}State", 80),
        text(f"{prefix}PostalCode", 20),
        text(f"{prefix}Country", 80),
    )


def owner() -> Field:
    # Defaulted on create to the calling user, so not "required" for the caller.
    return reference("OwnerId", "User", "Owner")


ACCOUNT = SObject(
    "Account", "Account", "Accounts", "001",
    (
        system("Id", "id"),
        system("IsDeleted", "boolean"),
        text("Name", 255, required=True),
        picklist("Type", ACCOUNT_TYPES, restricted=True),
        reference("ParentId", "Account", "Parent"),
        *address("Billing"),
        *address("Shipping"),
        text("Phone", 40, type="phone"),
        text("Fax", 40, type="phone"),
        text("AccountNumber", 40),
        text("Website", 255, type="url"),
        text("Sic", 20),
        picklist("Industry", INDUSTRIES, restricted=True),
        Field("AnnualRevenue", "currency", precision=18, scale=0),
        Field("NumberOfEmployees", "int", precision=8),
        picklist("Ownership", OWNERSHIPS, restricted=True),
        text("TickerSymbol", 20),
        text("Description", 32000, type="textarea"),
        picklist("Rating", RATINGS, restricted=True),
        text("Site", 80),
        owner(),
        *audit_fields(),
        Field("LastActivityDate", "date", createable=False, updateable=False),
        picklist("AccountSource", SOURCES, restricted=True),
        text("HubSpot_Company_ID__c", 100, label="HubSpot Company ID", external_id=True, unique=True),
    ),
)

CONTACT = SObject(
    "Contact", "Contact", "Contacts", "003",
    (
        system("Id", "id"),
        system("IsDeleted", "boolean"),
        reference("AccountId", "Account", "Account"),
        text("LastName", 80, required=True),
        text("FirstName", 40),
        picklist("Salutation", SALUTATIONS),
        system("Name", "string", length=121),
        *address("Mailing"),
        text("Phone", 40, type="phone"),
        text("MobilePhone", 40, type="phone"),
        text("Email", 80, type="email"),
        text("Title", 128),
        text("Department", 80),
        picklist("LeadSource", SOURCES),
        Field("Birthdate", "date"),
        text("Description", 32000, type="textarea"),
        owner(),
        *audit_fields(),
    ),
)

LEAD = SObject(
    "Lead", "Lead", "Leads", "00Q",
    (
        system("Id", "id"),
        system("IsDeleted", "boolean"),
        text("LastName", 80, required=True),
        text("FirstName", 40),
        picklist("Salutation", SALUTATIONS),
        system("Name", "string", length=121),
        text("Title", 128),
        text("Company", 255, required=True),
        text("Street", 255, type="textarea"),
        text("City", 40),
        text("State", 80),
        text("PostalCode", 20),
        text("Country", 80),
        text("Phone", 40, type="phone"),
        text("MobilePhone", 40, type="phone"),
        text("Email", 80, type="email"),
        text("Website", 255, type="url"),
        text("Description", 32000, type="textarea"),
        picklist("LeadSource", SOURCES),
        picklist("Status", LEAD_STATUSES, restricted=True, default=LEAD_STATUSES[0]),
        picklist("Industry", INDUSTRIES),
        picklist("Rating", RATINGS),
        Field("AnnualRevenue", "currency", precision=18, scale=0),
        Field("NumberOfEmployees", "int", precision=8),
        owner(),
        system("IsConverted", "boolean"),
        system("ConvertedDate", "date"),
        system("ConvertedAccountId", "reference", reference_to="Account", relationship_name="ConvertedAccount"),
        system("ConvertedContactId", "reference", reference_to="Contact", relationship_name="ConvertedContact"),
        *audit_fields(),
    ),
)

USER = SObject(
    "User", "User", "Users", "005",
    (
        system("Id", "id"),
        text("Username", 80, required=True, unique=True),
        text("LastName", 80, required=True),
        text("FirstName", 40),
        system("Name", "string", length=121),
        text("Email", 128, type="email", required=True),
        text("Alias", 8, required=True),
        text("CommunityNickname", 40),
        Field("IsActive", "boolean", default="true"),
        text("Title", 80),
        text("Department", 80),
        text("CompanyName", 80),
        text("Phone", 40, type="phone"),
        picklist("TimeZoneSidKey", TIME_ZONES, restricted=True, required=True),
        picklist("LocaleSidKey", LOCALES, restricted=True, required=True),
        picklist("EmailEncodingKey", ENCODINGS, restricted=True, required=True),
        picklist("LanguageLocaleKey", LANGUAGES, restricted=True, required=True),
        *audit_fields(),
    ),
    deletable=False,  # users are deactivated, never deleted
)

SOBJECTS: dict[str, SObject] = {s.name: s for s in (ACCOUNT, CONTACT, LEAD, USER)}
SOBJECTS_BY_LOWER = {name.lower(): s for name, s in SOBJECTS.items()}
SOBJECTS_BY_PREFIX = {s.key_prefix: s for s in SOBJECTS.values()}


FIELD_TYPES = tuple(SOAP_TYPES)
_customised: dict[str, SObject] = {}


def sobject(name: str) -> SObject | None:
    """The sObject as the org has it now (its customisations applied)."""
    standard = SOBJECTS_BY_LOWER.get(name.lower())
    return _customised.get(standard.name, standard) if standard else None


def custom_field(definition: dict) -> Field:
    """A custom field from its control-API definition: ``{"name": "Region__c", "type": "picklist",
    "label", "length", "picklist": [...], "restricted", "external_id", "unique"}``."""
    name, type_ = definition["name"], definition.get("type", "string")
    if not name.endswith("__c") or not name[:-3].replace("_", "a").isalnum():
        raise ValueError(f"a custom field's API name ends in __c: {name!r}")
    if type_ not in FIELD_TYPES or type_ in ("id",):
        raise ValueError(f"unknown field type {type_!r}")
    length = int(definition.get("length") or (255 if type_ in TEXT_TYPES else 0))
    precision = 18 if type_ in NUMERIC_TYPES else 0
    return Field(
        name, type_, label=definition.get("label", ""), length=length, picklist=tuple(definition.get("picklist") or ()),
        restricted=bool(definition.get("restricted")), external_id=bool(definition.get("external_id")),
        unique=bool(definition.get("unique")), precision=precision,
    )


def _customised_field(f: Field, access: dict, picklist_change: dict | None) -> Field:
    editable = access.get("editable", True)
    options = {}
    if not editable:
        options.update(createable=False, updateable=False)
    if picklist_change is not None:
        options["restricted"] = bool(picklist_change.get("restricted", f.restricted))
        if picklist_change.get("values") is not None:
            options["picklist"] = tuple(picklist_change["values"])
    return replace(f, **options) if options else f


def customised_sobject(standard: SObject, changes: dict) -> SObject:
    """``standard`` with an org's changes: ``{"added": {name: definition}, "deleted": [names],
    "access": {name: {"readable", "editable"}}, "picklists": {name: {"values", "restricted"}},
    "object_access": {"createable", "updateable"}}``."""
    deleted = {name.lower() for name in changes.get("deleted", [])}
    access = {name.lower(): value for name, value in changes.get("access", {}).items()}
    picklists = {name.lower(): value for name, value in changes.get("picklists", {}).items()}
    fields = [*standard.fields, *(custom_field(d) for d in changes.get("added", {}).values())]
    kept = tuple(
        _customised_field(f, access.get(f.name.lower(), {}), picklists.get(f.name.lower()))
        for f in fields
        if f.name.lower() not in deleted and access.get(f.name.lower(), {}).get("readable", True)
    )
    permissions = changes.get("object_access", {})
    return SObject(
        standard.name, standard.label, standard.label_plural, standard.key_prefix, kept, standard.deletable,
        createable=permissions.get("createable", True), updateable=permissions.get("updateable", True),
    )


def org_customise(changes: dict[str, dict]) -> None:
    """Apply the org's changes per sObject name (``{}``: the standard org again)."""
    _customised.clear()
    for name, object_changes in changes.items():
        _customised[SOBJECTS_BY_LOWER[name.lower()].name] = customised_sobject(SOBJECTS_BY_LOWER[name.lower()], object_changes)


def field_label(f: Field) -> str:
    return f.label or _label(f.name)
