"""The production profile: secure, and secrets have no defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "CRMSYNC_FERNET_KEY", "ALLOWED_HOSTS"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="crmsync.settings_production", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.smoke
def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY="x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        CRMSYNC_FERNET_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="crmsync.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    result = _manage("check", ALLOWED_HOSTS="crmsync.example.com")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr
