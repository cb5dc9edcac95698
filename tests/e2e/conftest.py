import importlib

import pytest
from django.apps import apps

# A module name starting with a digit cannot be imported with the import statement.
default_mappings = importlib.import_module("sync.migrations.0002_default_field_mappings")


@pytest.fixture(autouse=True)
def field_mappings(transactional_db):
    """The default mappings the data migration installs: ``transactional_db`` empties every table
    after each test, so they are put back for each one."""
    default_mappings.create_default_mappings(apps, None)
