"""HubSpot's built-in definitions: default properties, association types, object type names.

Values are HubSpot's internal names (``COMPUTER_SOFTWARE``, ``marketingqualifiedlead``, type id 279),
so code written against the sandbox sends what a real portal accepts.
"""

from __future__ import annotations

OBJECT_TYPES = {
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
}
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2"}
SINGULAR = {"companies": "company", "contacts": "contact"}

# Properties every answer carries when no ``properties`` are asked for.
DEFAULT_RETURNED = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
}
# Properties the free-text ``query`` of the search API looks in.
QUERY_SEARCHED = {
    "companies": ("name", "domain", "website", "phone"),
    "contacts": ("firstname", "lastname", "email", "phone", "company"),
}
# Properties HubSpot maintains itself; writes to them are refused.
READ_ONLY = {"createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_object_id", "num_associated_contacts"}

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LIFECYCLE_LABELS = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}

# HubSpot's default company industry options (the internal values of the "industry" property).
INDUSTRIES = (
    "ACCOUNTING", "AIRLINES_AVIATION", "ALTERNATIVE_DISPUTE_RESOLUTION", "ALTERNATIVE_MEDICINE", "ANIMATION",
    "APPAREL_FASHION", "ARCHITECTURE_PLANNING", "ARTS_AND_CRAFTS", "AUTOMOTIVE", "AVIATION_AEROSPACE", "BANKING",
    "BIOTECHNOLOGY", "BROADCAST_MEDIA", "BUILDING_MATERIALS", "BUSINESS_SUPPLIES_AND_EQUIPMENT", "CAPITAL_MARKETS",
    "CHEMICALS", "CIVIC_SOCIAL_ORGANIZATION", "CIVIL_ENGINEERING", "COMMERCIAL_REAL_ESTATE",
    "COMPUTER_NETWORK_SECURITY", "COMPUTER_GAMES", "COMPUTER_HARDWARE", "COMPUTER_NETWORKING", "COMPUTER_SOFTWARE",
    "INTERNET", "CONSTRUCTION", "CONSUMER_ELECTRONICS", "CONSUMER_GOODS", "CONSUMER_SERVICES", "COSMETICS", "DAIRY",
    "DEFENSE_SPACE", "DESIGN", "EDUCATION_MANAGEMENT", "E_LEARNING", "ELECTRICAL_ELECTRONIC_MANUFACTURING",
    "ENTERTAINMENT", "ENVIRONMENTAL_SERVICES", "EVENTS_SERVICES", "EXECUTIVE_OFFICE", "FACILITIES_SERVICES",
    "FARMING", "FINANCIAL_SERVICES", "FINE_ART", "FISHERY", "FOOD_BEVERAGES", "FOOD_PRODUCTION", "FUND_RAISING",
    "FURNITURE", "GAMBLING_CASINOS", "GLASS_CERAMICS_CONCRETE", "GOVERNMENT_ADMINISTRATION", "GOVERNMENT_RELATIONS",
    "GRAPHIC_DESIGN", "HEALTH_WELLNESS_AND_FITNESS", "HIGHER_EDUCATION", "HOSPITAL_HEALTH_CARE", "HOSPITALITY",
    "HUMAN_RESOURCES", "IMPORT_AND_EXPORT", "INDIVIDUAL_FAMILY_SERVICES", "INDUSTRIAL_AUTOMATION",
    "INFORMATION_SERVICES", "INFORMATION_TECHNOLOGY_AND_SERVICES", "INSURANCE", "INTERNATIONAL_AFFAIRS",
    "INTERNATIONAL_TRADE_AND_DEVELOPMENT", "INVESTMENT_BANKING", "INVESTMENT_MANAGEMENT", "JUDICIARY",
    "LAW_ENFORCEMENT", "LAW_PRACTICE", "LEGAL_SERVICES", "LEGISLATIVE_OFFICE", "LEISURE_TRAVEL_TOURISM", "LIBRARIES",
    "LOGISTICS_AND_SUPPLY_CHAIN", "LUXURY_GOODS_JEWELRY", "MACHINERY", "MANAGEMENT_CONSULTING", "MARITIME",
    "MARKET_RESEARCH", "MARKETING_AND_ADVERTISING", "MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "MEDIA_PRODUCTION",
    "MEDICAL_DEVICES", "MEDICAL_PRACTICE", "MENTAL_HEALTH_CARE", "MILITARY", "MINING_METALS",
    "MOTION_PICTURES_AND_FILM", "MUSEUMS_AND_INSTITUTIONS", "MUSIC", "NANOTECHNOLOGY", "NEWSPAPERS",
    "NON_PROFIT_ORGANIZATION_MANAGEMENT", "OIL_ENERGY", "ONLINE_MEDIA", "OUTSOURCING_OFFSHORING",
    "PACKAGE_FREIGHT_DELIVERY", "PACKAGING_AND_CONTAINERS", "PAPER_FOREST_PRODUCTS", "PERFORMING_ARTS",
    "PHARMACEUTICALS", "PHILANTHROPY", "PHOTOGRAPHY", "PLASTICS", "POLITICAL_ORGANIZATION",
    "PRIMARY_SECONDARY_EDUCATION", "PRINTING", "PROFESSIONAL_TRAINING_COACHING", "PROGRAM_DEVELOPMENT",
    "PUBLIC_POLICY", "PUBLIC_RELATIONS_AND_COMMUNICATIONS", "PUBLIC_SAFETY", "PUBLISHING", "RAILROAD_MANUFACTURE",
    "RANCHING", "REAL_ESTATE", "RECREATIONAL_FACILITIES_AND_SERVICES", "RELIGIOUS_INSTITUTIONS",
    "RENEWABLES_ENVIRONMENT", "RESEARCH", "RESTAURANTS", "RETAIL", "SECURITY_AND_INVESTIGATIONS", "SEMICONDUCTORS",
    "SHIPBUILDING", "SPORTING_GOODS", "SPORTS", "STAFFING_AND_RECRUITING", "SUPERMARKETS", "TELECOMMUNICATIONS",
    "TEXTILES", "THINK_TANKS", "TOBACCO", "TRANSLATION_AND_LOCALIZATION", "TRANSPORTATION_TRUCKING_RAILROAD",
    "UTILITIES", "VENTURE_CAPITAL_PRIVATE_EQUITY", "VETERINARY", "WAREHOUSING", "WHOLESALE", "WINE_AND_SPIRITS",
    "WIRELESS", "WRITING_AND_EDITING",
)


def _options(values, labels=None) -> list[dict]:
    return [
        {
            "label": (labels or {}).get(value) or value.replace("_", " ").title(),
            "value": value,
            "displayOrder": order,
            "hidden": False,
            "description": "",
        }
        for order, value in enumerate(values)
    ]


BOOL_OPTIONS = [
    {"label": "True", "value": "true", "displayOrder": 0, "hidden": False, "description": ""},
    {"label": "False", "value": "false", "displayOrder": 1, "hidden": False, "description": ""},
]

# name: (label, type, fieldType, groupName, options)
_TEXT = ("string", "text")
_COMPANY = {
    "name": ("Name", *_TEXT, "companyinformation", []),
    "domain": ("Company Domain Name", *_TEXT, "companyinformation", []),
    "website": ("Website URL", *_TEXT, "companyinformation", []),
    "phone": ("Phone Number", "string", "phonenumber", "companyinformation", []),
    "address": ("Street Address", *_TEXT, "companyinformation", []),
    "city": ("City", *_TEXT, "companyinformation", []),
    "state": ("State/Region", *_TEXT, "companyinformation", []),
    "zip": ("Postal Code", *_TEXT, "companyinformation", []),
    "country": ("Country/Region", *_TEXT, "companyinformation", []),
    "description": ("Description", "string", "textarea", "companyinformation", []),
    "industry": ("Industry", "enumeration", "select", "companyinformation", _options(INDUSTRIES)),
    "type": (
        "Type",
        "enumeration",
        "select",
        "companyinformation",
        _options(("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")),
    ),
    "numberofemployees": ("Number of Employees", "number", "number", "companyinformation", []),
    "annualrevenue": ("Annual Revenue", "number", "number", "companyinformation", []),
    "lifecyclestage": (
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "companyinformation",
        _options(LIFECYCLE_STAGES, LIFECYCLE_LABELS),
    ),
    "hubspot_owner_id": ("Company owner", "enumeration", "select", "companyinformation", []),
    "createdate": ("Create Date", "datetime", "date", "companyinformation", []),
    "hs_lastmodifieddate": ("Last Modified Date", "datetime", "date", "companyinformation", []),
    "hs_object_id": ("Record ID", "number", "number", "companyinformation", []),
    "num_associated_contacts": ("Number of Associated Contacts", "number", "number", "companyinformation", []),
    "salesforceaccountid": ("Salesforce Account ID", *_TEXT, "salesforceinformation", []),
    "salesforcedeleted": ("Salesforce Deleted", "bool", "booleancheckbox", "salesforceinformation", BOOL_OPTIONS),
    "salesforcelastsynctime": ("Last Salesforce Sync Time", "datetime", "date", "salesforceinformation", []),
}
_CONTACT = {
    "email": ("Email", *_TEXT, "contactinformation", []),
    "firstname": ("First Name", *_TEXT, "contactinformation", []),
    "lastname": ("Last Name", *_TEXT, "contactinformation", []),
    "phone": ("Phone Number", "string", "phonenumber", "contactinformation", []),
    "company": ("Company Name", *_TEXT, "contactinformation", []),
    "website": ("Website URL", *_TEXT, "contactinformation", []),
    "jobtitle": ("Job Title", *_TEXT, "contactinformation", []),
    "lifecyclestage": (
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
        _options(LIFECYCLE_STAGES, LIFECYCLE_LABELS),
    ),
    "hs_lead_status": (
        "Lead Status",
        "enumeration",
        "radio",
        "sales_properties",
        _options(
            ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")
        ),
    ),
    "hubspot_owner_id": ("Contact owner", "enumeration", "select", "sales_properties", []),
    "associatedcompanyid": ("Primary Associated Company ID", "number", "number", "contactinformation", []),
    "createdate": ("Create Date", "datetime", "date", "contactinformation", []),
    "lastmodifieddate": ("Last Modified Date", "datetime", "date", "contactinformation", []),
    "hs_lastmodifieddate": ("Object last modified date/time", "datetime", "date", "contactinformation", []),
    "hs_object_id": ("Record ID", "number", "number", "contactinformation", []),
    "salesforcecontactid": ("Salesforce Contact ID", *_TEXT, "salesforceinformation", []),
    "salesforceleadid": ("Salesforce Lead ID", *_TEXT, "salesforceinformation", []),
    "salesforcedeleted": ("Salesforce Deleted", "bool", "booleancheckbox", "salesforceinformation", BOOL_OPTIONS),
    "salesforcelastsynctime": ("Last Salesforce Sync Time", "datetime", "date", "salesforceinformation", []),
}


def default_properties(object_type: str) -> list[dict]:
    """Definitions in the wire shape of ``GET /crm/v3/properties/{objectType}``."""
    table = _COMPANY if object_type == "companies" else _CONTACT
    return [
        {
            "name": name,
            "label": label,
            "type": type_,
            "fieldType": field_type,
            "groupName": group,
            "description": "",
            "options": options,
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": name == "hubspot_owner_id",
            "referencedObjectType": "OWNER" if name == "hubspot_owner_id" else None,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": True,
            "formField": name not in READ_ONLY,
            "modificationMetadata": {
                "archivable": False,
                "readOnlyDefinition": True,
                "readOnlyValue": name in READ_ONLY,
            },
        }
        for name, (label, type_, field_type, group, options) in table.items()
    ]


# CRM v4 association types between contacts and companies (HubSpot-defined ids).
PRIMARY = {("contacts", "companies"): 1, ("companies", "contacts"): 2}
UNLABELED = {("contacts", "companies"): 279, ("companies", "contacts"): 280}
INVERSE_TYPE = {1: 2, 2: 1, 279: 280, 280: 279}
TYPE_LABELS = {1: "Primary", 2: "Primary", 279: None, 280: None}
V3_TYPE_NAMES = {
    1: "contact_to_company",
    2: "company_to_contact",
    279: "contact_to_company_unlabeled",
    280: "company_to_contact_unlabeled",
}
