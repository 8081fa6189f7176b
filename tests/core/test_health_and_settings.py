import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_reports_the_database_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db(transaction=True)
def test_healthz_answers_503_when_the_database_is_unreachable(client, settings):
    # Point the live connection at a database that cannot be reached: a closed port on
    # PostgreSQL, a directory that does not exist on SQLite. The real driver fails for real.
    saved = dict(connection.settings_dict)
    saved_connection = connection.connection
    # Detach the open connection (SQLite's in-memory test database ignores close()).
    connection.connection = None
    try:
        if connection.vendor == "postgresql":
            connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": "1", "CONN_HEALTH_CHECKS": False})
            connection.settings_dict["OPTIONS"] = {**saved.get("OPTIONS", {}), "connect_timeout": 2}
        else:
            connection.settings_dict["NAME"] = "/nonexistent-dir/for-healthz-test/db.sqlite3"
        response = client.get("/healthz")
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.connection = saved_connection
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


def run_settings(env_overrides: dict) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE is set for the browser tests' event loop; production never has it.
    unset = ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_secret_key():
    result = run_settings({"ALLOWED_HOSTS": "tracker.example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run_settings(
        {
            "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-1234567890",
            "ALLOWED_HOSTS": "tracker.example.com",
        }
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_debug_runs_without_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},
            "DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "releasetracker.settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
