import pytest


@pytest.fixture(autouse=True)
def fast_retries(settings):
    """Retries back off in hundredths of a second here, and give up after four attempts."""
    settings.CRM_RETRY_BASE_SECONDS = 0.02
    settings.CRM_MAX_ATTEMPTS = 4
