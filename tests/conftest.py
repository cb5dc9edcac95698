import importlib

import django_rq
import pytest
from django.apps import apps

from tests.factories import AdminFactory, UserFactory

pytest_plugins = ["tests.sandbox_fixtures"]

# A module name starting with a digit cannot be imported with the import statement.
default_mappings_migration = importlib.import_module("sync.migrations.0002_default_field_mappings")


@pytest.fixture(autouse=True)
def default_field_mappings(request):
    """``transactional_db`` empties every table after its test, the default field mappings the data
    migration installed included: tests that use it get them back."""
    if "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
        default_mappings_migration.create_default_mappings(apps, None)


@pytest.fixture
def admin_user(db):
    return AdminFactory()


@pytest.fixture
def plain_user(db):
    return UserFactory()


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def user_client(client, plain_user):
    client.force_login(plain_user)
    return client


@pytest.fixture
def redis_queues():
    """The real Redis behind RQ, emptied before and after the test."""
    connection = django_rq.get_connection("default")
    connection.flushdb()
    yield connection
    connection.flushdb()
