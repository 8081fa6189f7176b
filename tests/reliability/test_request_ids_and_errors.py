"""Every response names its request; every log line of a request names it; a 500 shows no stack trace."""

import logging
import re

import pytest
from django.test import Client

from releasetracker.logging import HumanFormatter, RequestIdFilter
from tests.reliability.conftest import json_lines
from tests.reliability.urls_boom import SECRET_DETAIL

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/releases/", "/api/v1/schema/", "/no/such/page/"])
def test_every_response_carries_a_generated_request_id(client, path):
    response = client.get(path)
    assert GENERATED.match(response["X-Request-ID"])


@pytest.mark.django_db
def test_each_request_gets_its_own_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second


@pytest.mark.django_db
def test_a_well_formed_id_from_a_proxy_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.9c_21-0001")
    assert response["X-Request-ID"] == "lb-7f3a.9c_21-0001"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "incoming",
    ["short", "x" * 129, "has space in it", "new\nline-injection", 'quote"inside-it', "ünïcode-request-id"],
)
def test_a_malformed_incoming_id_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert GENERATED.match(response["X-Request-ID"])


@pytest.mark.django_db
def test_the_access_log_is_one_json_object_per_line_naming_the_request(client, console_log):
    client.get("/healthz", HTTP_X_REQUEST_ID="ci-access-0001")
    entries = json_lines(console_log())
    access = [e for e in entries if e["logger"] == "releasetracker.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "ci-access-0001"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/healthz"
    assert access[0]["status"] == 200
    assert access[0]["duration_ms"] >= 0


@pytest.mark.django_db
@pytest.mark.urls("tests.reliability.urls_boom")
@pytest.mark.parametrize("path", ["/api/v1/__boom__/", "/v1/signals/__boom__", "/compat/multitudes/__boom__"])
def test_an_api_500_is_generic_json_quoting_the_request_id(path, console_log):
    client = Client()
    response = client.get(path, HTTP_X_REQUEST_ID="ci-boom-0001")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "internal error", "code": "server_error", "request_id": "ci-boom-0001"}
    assert response["X-Request-ID"] == "ci-boom-0001"
    assert SECRET_DETAIL not in response.content.decode()
    assert "Traceback" not in response.content.decode()

    # The log has the whole story, every line under the request's id.
    entries = json_lines(console_log())
    assert entries, "the failing request logged nothing"
    assert {e["request_id"] for e in entries} == {"ci-boom-0001"}
    error = next(e for e in entries if e["logger"] == "django.request")
    assert SECRET_DETAIL in error["exception"]
    assert any(e["logger"] == "tests.boom" for e in entries)
    assert any(e["logger"] == "releasetracker.access" and e["status"] == 500 for e in entries)


@pytest.mark.django_db
@pytest.mark.urls("tests.reliability.urls_boom")
def test_a_page_500_is_an_html_page_showing_the_request_id_and_no_trace():
    response = Client().get("/__boom__/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert response["X-Request-ID"] in body
    assert SECRET_DETAIL not in body
    assert "Traceback" not in body


@pytest.mark.django_db
@pytest.mark.urls("tests.reliability.urls_boom")
def test_a_generated_id_is_quoted_in_the_500_too():
    response = Client().get("/api/v1/__boom__/")
    assert GENERATED.match(response.json()["request_id"])
    assert response.json()["request_id"] == response["X-Request-ID"]


def test_the_debug_format_is_a_human_line_with_the_request_id():
    record = logging.LogRecord("releasetracker.access", logging.INFO, __file__, 1, "GET / 200", (), None)
    RequestIdFilter().filter(record)
    line = HumanFormatter().format(record)
    assert "[-] releasetracker.access: GET / 200" in line


def test_logging_is_json_in_production_and_human_in_debug(settings):
    from releasetracker import settings as production

    assert production.LOGGING["handlers"]["console"]["formatter"] == ("text" if production.DEBUG else "json")
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_the_client_may_retry(api):
    from django.db import connection

    # Point the live connection at a database that cannot be reached, as the health check test does.
    saved = dict(connection.settings_dict)
    saved_connection = connection.connection
    connection.connection = None
    try:
        if connection.vendor == "postgresql":
            connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": "1", "CONN_HEALTH_CHECKS": False})
            connection.settings_dict["OPTIONS"] = {**saved.get("OPTIONS", {}), "connect_timeout": 2}
        else:
            connection.settings_dict["NAME"] = "/nonexistent-dir/for-outage-test/db.sqlite3"
        response = api.get("/api/v1/releases/", HTTP_X_REQUEST_ID="ci-outage-0001")
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.connection = saved_connection
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": "service unavailable: the database is not answering; retry later",
        "code": "service_unavailable",
        "request_id": "ci-outage-0001",
    }


@pytest.mark.django_db
@pytest.mark.urls("tests.reliability.urls_boom")
@pytest.mark.parametrize(("path", "status"), [("/__404__/", 404), ("/__403__/", 403), ("/__400__/", 400)])
def test_client_errors_raised_by_a_view_keep_their_status(path, status, console_log):
    response = Client().get(path, HTTP_X_REQUEST_ID="ci-client-error-1")
    assert response.status_code == status
    entries = json_lines(console_log())
    assert not any(e["message"].startswith("Internal Server Error") for e in entries)
    # Django's own security log line for a suspicious request names the request too.
    assert {e["request_id"] for e in entries} == {"ci-client-error-1"}
