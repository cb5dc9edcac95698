"""The default company ↔ account field mappings, as HubSpot's connector ships them."""

from django.db import migrations

# HubSpot's industry options → Salesforce's standard Account.Industry picklist values.
INDUSTRY_VALUE_MAP = {
    "APPAREL_FASHION": "Apparel",
    "BANKING": "Banking",
    "BIOTECHNOLOGY": "Biotechnology",
    "CHEMICALS": "Chemicals",
    "COMPUTER_SOFTWARE": "Technology",
    "CONSTRUCTION": "Construction",
    "EDUCATION_MANAGEMENT": "Education",
    "ENTERTAINMENT": "Entertainment",
    "ENVIRONMENTAL_SERVICES": "Environmental",
    "FINANCIAL_SERVICES": "Finance",
    "FOOD_BEVERAGES": "Food & Beverage",
    "HOSPITAL_HEALTH_CARE": "Healthcare",
    "HOSPITALITY": "Hospitality",
    "INSURANCE": "Insurance",
    "MACHINERY": "Machinery",
    "MANAGEMENT_CONSULTING": "Consulting",
    "MEDIA_PRODUCTION": "Media",
    "RETAIL": "Retail",
    "TELECOMMUNICATIONS": "Telecommunications",
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
