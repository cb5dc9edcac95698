import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from sync.models import Company, Contact, FieldMapping, SchemaField, SyncError, SyncEvent, SyncRun


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")
    is_staff = False


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    domain = factory.Sequence(lambda n: f"company{n}.example.com")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Person{n}")


class FieldMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FieldMapping

    hubspot_property = factory.Sequence(lambda n: f"custom_property_{n}")
    salesforce_field = factory.Sequence(lambda n: f"Custom_Field_{n}__c")


class SchemaFieldFactory(factory.django.DjangoModelFactory):
    """A field of the schema cache: a HubSpot company property unless told otherwise."""

    class Meta:
        model = SchemaField

    crm = SchemaField.Crm.HUBSPOT
    object_name = factory.LazyAttribute(lambda field: "Account" if field.crm == SchemaField.Crm.SALESFORCE else "companies")
    name = factory.Sequence(lambda n: f"field_{n}")
    type = "enumeration"
    refreshed_at = factory.LazyFunction(timezone.now)


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    kind = SyncRun.Kind.IMPORT


class SyncEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncEvent

    company = factory.SubFactory(CompanyFactory)
    direction = "sf_to_hs"
    action = "update"
    outcome = SyncEvent.Outcome.SUCCESS


class SyncErrorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncError

    company = factory.SubFactory(CompanyFactory)
    direction = "hs_to_sf"
    category = "validation_rule"
    message = "Phone must contain digits only"
