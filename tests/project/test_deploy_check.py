"""``manage.py check --deploy`` passes with production settings, and fails without them
(so the passing run means something)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

# the services it starts get an environment without the suite's ESSMON_* (and so their own
# SQLite database), whichever engine the suite runs on: the PostgreSQL pass leaves it out
pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]


def run_deploy_check(tmp_path: Path, **overrides: str | None) -> subprocess.CompletedProcess:
    # Start from a clean slate: nothing from the developer's or the test suite's settings
    # (tests/settings.py sets DJANGO_ALLOW_ASYNC_UNSAFE, which a deployment must not).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSMON_", "DJANGO_"))}
    env.update(
        ESSMON_PRODUCTION="1",
        ESSMON_SECRET_KEY=secrets.token_urlsafe(48),  # 64 characters
        ESSMON_ALLOWED_HOSTS="essmon.example.jp",
        ESSMON_BASE_URL="https://essmon.example.jp",
        ESSMON_FROM_EMAIL="遠隔モニタリングサービス <no-reply@essmon.example.jp>",
        ESSMON_SUPPORT_NAME="蓄電システム お客様相談室",
        ESSMON_SUPPORT_PHONE="0120-123-456",
        ESSMON_SUPPORT_HOURS="平日 9:00〜17:00",
        ESSMON_SUPPORT_URL="https://essmon.example.jp/support/",
        ESSMON_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="essmon.settings",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    done = run_deploy_check(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNING" not in done.stderr and "ERROR" not in done.stderr


@pytest.mark.parametrize(
    "overrides, reported",
    [
        ({"ESSMON_PRODUCTION": None}, "security.W004"),  # development settings: no HSTS
        ({"ESSMON_SECRET_KEY": "short"}, "security.W009"),
        ({"ESSMON_DEBUG": "1"}, "security.W018"),
        # the demo's fictitious support contact, or its undeliverable sender (issue 12 §3)
        ({"ESSMON_SUPPORT_PHONE": None}, "essmon.W001"),
        ({"ESSMON_FROM_EMAIL": None}, "essmon.W002"),
        # webhooks let into the service's own network
        ({"ESSMON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}, "essmon.W003"),
    ],
    ids=[
        "development",
        "weak-secret-key",
        "debug",
        "demo-support-contact",
        "demo-sender",
        "webhook-allow-hosts",
    ],
)
def test_the_deploy_check_catches_unsafe_settings(tmp_path, overrides, reported):
    done = run_deploy_check(tmp_path, **overrides)

    assert done.returncode != 0
    assert reported in done.stderr, done.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    done = run_deploy_check(tmp_path, ESSMON_SECRET_KEY=None)

    assert done.returncode != 0
    assert "ESSMON_SECRET_KEY must be set when ESSMON_PRODUCTION=1" in done.stderr
    assert not (tmp_path / "secret_key").exists(), "no generated key in production"


def test_production_refuses_to_start_without_a_base_url(tmp_path):
    done = run_deploy_check(tmp_path, ESSMON_BASE_URL=None)

    assert done.returncode != 0
    assert "ESSMON_BASE_URL must be set when ESSMON_PRODUCTION=1" in done.stderr
