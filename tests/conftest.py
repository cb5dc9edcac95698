import django_rq
import pytest

from tests.factories import AdminFactory, UserFactory

pytest_plugins = ["tests.sandbox_fixtures"]


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
