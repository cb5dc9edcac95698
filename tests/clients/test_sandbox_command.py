"""``manage.py sandbox`` runs both emulators, writes their details, and stops on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time

from django.conf import settings

STARTUP_SECONDS = 30


def test_sandbox_command_writes_connection_details_and_stops_on_sigterm(tmp_path):
    sandbox_file = tmp_path / "sandbox.json"
    env = {
        **os.environ,
        "CRMSYNC_VAR_DIR": str(tmp_path),
        "CRMSYNC_SANDBOX_FILE": str(sandbox_file),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "manage.py", "sandbox", "--salesforce-port", "0", "--hubspot-port", "0"]
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not sandbox_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sandbox_file.exists(), process.stdout.read() if process.poll() is not None else "no sandbox.json"
        details = json.loads(sandbox_file.read_text())
        assert oct(sandbox_file.stat().st_mode & 0o777) == oct(0o600)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)

    assert process.returncode == 0, output
    assert details["salesforce"]["instance_url"].startswith("https://127.0.0.1:")
    assert details["hubspot"]["base_url"].startswith("http://127.0.0.1:")
    assert details["hubspot"]["base_url"] in output and "Sandbox stopped." in output
    secrets = [details[crm][key] for crm in details for key in details[crm] if "token" in key or "secret" in key]
    assert secrets and not any(secret in output for secret in secrets)
    assert (tmp_path / "sandbox" / "salesforce").is_dir() and (tmp_path / "sandbox" / "hubspot").is_dir()
