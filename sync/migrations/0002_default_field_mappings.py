"""The default company ↔ account field mappings, as HubSpot's connector ships them."""

from django.db import migrations

# HubSpot's industry options → Salesforce's standard Account.Industry picklist values: every
# standard value but "Other" (HubSpot has no such option), one HubSpot option each so the map
# reads the same way back.
INDUSTRY_VALUE_MAP = {
    "FARMING": "Agriculture",
    "APPAREL_FASHION": "Apparel",
    "BANKING": "Banking",
    "BIOTECHNOLOGY": "Biotechnology",
    "CHEMICALS": "Chemicals",
    "PUBLIC_RELATIONS_AND_COMMUNICATIONS": "Communications",
    "CONSTRUCTION": "Construction",
    "MANAGEMENT_CONSULTING": "Consulting",
    "EDUCATION_MANAGEMENT": "Education",
    "CONSUMER_ELECTRONICS": "Electronics",
    "OIL_ENERGY": "Energy",
    "MECHANICAL_OR_INDUSTRIAL_ENGINEERING": "Engineering",
    "ENTERTAINMENT": "Entertainment",
    "ENVIRONMENTAL_SERVICES": "Environmental",
    "FINANCIAL_SERVICES": "Finance",
    "FOOD_BEVERAGES": "Food & Beverage",
    "GOVERNMENT_ADMINISTRATION": "Government",
    "HOSPITAL_HEALTH_CARE": "Healthcare",
    "HOSPITALITY": "Hospitality",
    "INSURANCE": "Insurance",
    "MACHINERY": "Machinery",
    "INDUSTRIAL_AUTOMATION": "Manufacturing",
    "MEDIA_PRODUCTION": "Media",
    "NON_PROFIT_ORGANIZATION_MANAGEMENT": "Not For Profit",
    "RECREATIONAL_FACILITIES_AND_SERVICES": "Recreation",
    "RETAIL": "Retail",
    "PACKAGE_FREIGHT_DELIVERY": "Shipping",
    "COMPUTER_SOFTWARE": "Technology",
    "TELECOMMUNICATIONS": "Telecommunications",
    "TRANSPORTATION_TRUCKING_RAILROAD": "Transportation",
    "UTILITIES": "Utilities",
}

DEFAULT_MAPPINGS = [
    ("name", "Name", "text", "prefer_salesforce_unless_blank", {}),
    ("domain", "Website", "text", "prefer_salesforce_unless_blank", {}),
    ("phone", "Phone", "text", "prefer_salesforce_unless_blank", {}),
    ("industry", "Industry", "enumeration", "prefer_salesforce_unless_blank", INDUSTRY_VALUE_MAP),
    ("numberofemployees", "NumberOfEmployees", "number", "prefer_salesforce_unless_blank", {}),
    ("annualrevenue", "AnnualRevenue", "number", "prefer_salesforce_unless_blank", {}),
    ("address", "BillingStreet", "text", "prefer_salesforce_unless_blank", {}),
    ("city", "BillingCity", "text", "prefer_salesforce_unless_blank", {}),
    ("state", "BillingState", "text", "prefer_salesforce_unless_blank", {}),
    ("zip", "BillingPostalCode", "text", "prefer_salesforce_unless_blank", {}),
    ("country", "BillingCountry", "text", "prefer_salesforce_unless_blank", {}),
    ("description", "Description", "text", "prefer_salesforce_unless_blank", {}),
    # SPEC §3: owner maps two-way only, matched by the user's e-mail.
    ("hubspot_owner_id", "OwnerId", "owner", "two_way", {}),
]


def create_default_mappings(apps, schema_editor):
    FieldMapping = apps.get_model("sync", "FieldMapping")
    for hubspot_property, salesforce_field, field_type, sync_rule, value_map in DEFAULT_MAPPINGS:
        FieldMapping.objects.get_or_create(
            hubspot_property=hubspot_property,
            defaults={
                "salesforce_field": salesforce_field,
                "field_type": field_type,
                "sync_rule": sync_rule,
                "value_map": value_map,
            },
        )


def remove_default_mappings(apps, schema_editor):
    FieldMapping = apps.get_model("sync", "FieldMapping")
    FieldMapping.objects.filter(hubspot_property__in=[m[0] for m in DEFAULT_MAPPINGS]).delete()


class Migration(migrations.Migration):
    dependencies = [("sync", "0001_initial")]
    operations = [migrations.RunPython(create_default_mappings, remove_default_mappings)]
