"""Production web security headers: CSP on HTML, HSTS, nosniff, referrer policy, frame denial, secure cookies."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRICT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def production_settings(*names: str) -> dict:
    """Settings as production computes them from its environment (no DEBUG, no test overrides)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "SECRET_KEY": "production-like-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "tracker.example.com",
            "DJANGO_SETTINGS_MODULE": "releasetracker.settings",
        }
    )
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )

    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_turns_every_protection_on():
    values = production_settings(
        "CONTENT_SECURITY_POLICY",
        "SECURE_HSTS_SECONDS",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SECURE_SSL_REDIRECT",
        "X_FRAME_OPTIONS",
    )
    assert values == {
        "CONTENT_SECURITY_POLICY": STRICT_CSP,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "X_FRAME_OPTIONS": "DENY",
    }


@pytest.mark.django_db
def test_html_pages_carry_the_strict_policy_and_the_other_headers(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/accounts/login/", secure=True)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == STRICT_CSP
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_the_login_page_needs_no_inline_script_or_style(client):
    body = client.get("/accounts/login/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "inline <script> would be blocked by the CSP"
    assert "<style" not in body
    assert not re.search(r"\sstyle=", body)
    assert not re.search(r"\son[a-z]+=", body), "inline event handlers would be blocked by the CSP"


@pytest.mark.django_db
def test_json_responses_get_nosniff_but_no_page_policy(api):
    response = api.get("/api/v1/releases/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response


@pytest.mark.django_db
def test_swagger_ui_gets_its_own_policy_and_loads_nothing_from_another_host(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "http" not in policy  # no other host is allowed
    body = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert sources
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources


@pytest.mark.django_db
def test_the_admin_login_carries_the_policy(client):
    response = client.get("/admin/login/")
    assert response["Content-Security-Policy"] == STRICT_CSP
