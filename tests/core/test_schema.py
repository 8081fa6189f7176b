"""The OpenAPI schema at /api/v1/schema/: valid, warning-free, and describing every native route."""

import json
import re

import pytest
from django.core.management import call_command
from django.urls import URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from integrations.base import VendorAPIView

# Served next to the schema and deliberately left out of it.
NOT_IN_SCHEMA = {"/api/v1/schema/", "/api/v1/docs/"}
NATIVE = ("releases", "deployments", "environments", "projects", "repositories", "commits")


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif not issubclass(getattr(pattern.callback, "view_class", object), VendorAPIView):
            # A vendor's endpoint under /api/v1/ (Aviator's GitHub Actions calls) is not the native API.
            yield prefix + str(pattern.pattern)


def api_routes() -> set[str]:
    """Every /api/v1/ route the URL configuration serves, written as OpenAPI paths."""
    paths = set()
    for route in _routes(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "(?P<format>" in route:
            continue  # the router's ".json" suffix twins are the same endpoints
        path = route.replace("^", "").replace("$", "")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
        paths.add("/" + path)
    return paths - NOT_IN_SCHEMA


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"

    # The same command CI runs: it fails on any drf-spectacular warning or an invalid document.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert out.read_text().startswith("openapi: 3")


def test_the_served_schema_is_valid_openapi_3(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_every_reference_in_the_schema_points_to_a_defined_component(schema):
    text = json.dumps(schema)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))

    assert refs, "the schema should use components"
    assert refs <= set(schema["components"]["schemas"]), sorted(refs - set(schema["components"]["schemas"]))


def test_the_schema_lists_every_api_route(schema):
    routes = api_routes()

    assert {"/api/v1/releases/", "/api/v1/releases/{id}/commits/", "/api/v1/deployments/{id}/"} <= routes
    assert routes <= set(schema["paths"]), sorted(routes - set(schema["paths"]))


def _operations(schema, resource: str):
    for path, item in schema["paths"].items():
        if path.startswith(f"/api/v1/{resource}/"):
            for method, operation in item.items():
                if method in ("get", "post", "patch", "put", "delete"):
                    yield path, method, operation


@pytest.mark.parametrize("resource", NATIVE)
def test_every_native_operation_describes_its_error_responses(schema, resource):
    error_ref = "#/components/schemas/Error"
    for path, method, operation in _operations(schema, resource):
        responses = operation["responses"]
        expected = {"401", "403"}
        if method in ("post", "patch"):
            expected |= {"400"}
        if "{id}" in path:
            expected |= {"404"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for code, response in responses.items():
            if code.startswith("4"):
                assert response["content"]["application/json"]["schema"]["$ref"] == error_ref, (method, path, code)
        assert operation.get("summary"), (method, path)
        assert operation.get("security"), (method, path)


def test_release_create_is_documented_with_201_303_409_and_422(schema):
    responses = schema["paths"]["/api/v1/releases/"]["post"]["responses"]

    assert {"201", "303", "409", "422"} <= set(responses)


def _request_properties(schema, path: str, method: str) -> set[str]:
    ref = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])


def test_every_release_field_of_the_contract_is_in_the_request_schema(schema):
    assert _request_properties(schema, "/api/v1/releases/", "post") >= {
        "version",
        "projects",
        "commits",
        "name",
        "ref",
        "url",
        "date_released",
        "refs",
    }
    assert _request_properties(schema, "/api/v1/releases/{id}/", "patch") >= {"status", "name", "url", "date_released"}
    commit = schema["components"]["schemas"]["CommitObjectRequest"]["properties"]
    assert set(commit) >= {
        "sha",
        "id",
        "repository",
        "message",
        "author_name",
        "author_email",
        "timestamp",
        "pr_number",
    }


def test_every_deployment_field_of_the_contract_is_in_the_request_schema(schema):
    assert _request_properties(schema, "/api/v1/deployments/", "post") >= {
        "environment",
        "release",
        "commit_sha",
        "project",
        "status",
        "started_at",
        "finished_at",
        "title",
        "changelog",
        "url",
        "branch",
        "is_fix",
        "is_hotfix",
        "is_forced",
        "is_rollback",
        "tags",
        "triggered_by",
        "external_id",
        "member",
        "pull_request_number",
        "repository_url",
        "commits_count",
        "duration_seconds",
    }
    assert _request_properties(schema, "/api/v1/deployments/{id}/", "patch") >= {"status", "at"}
    assert _request_properties(schema, "/api/v1/environments/{id}/", "patch") >= {"name", "is_production"}
    assert _request_properties(schema, "/api/v1/repositories/", "post") >= {"name", "url", "provider"}


def test_list_filters_are_documented(schema):
    def params(path):
        return {p["name"] for p in schema["paths"][path]["get"]["parameters"]}

    assert params("/api/v1/releases/") >= {
        "project",
        "environment",
        "status",
        "since",
        "until",
        "version",
        "q",
        "cursor",
    }
    assert params("/api/v1/deployments/") >= {
        "environment",
        "project",
        "status",
        "release",
        "since",
        "until",
        "is_hotfix",
    }
    assert params("/api/v1/commits/") >= {"sha"}


def test_the_interactive_docs_are_served_without_any_cdn(db):
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/"), src


def test_the_compare_documents_its_parameters_answer_and_errors(schema):
    operation = schema["paths"]["/api/v1/compare/"]["get"]

    assert {p["name"] for p in operation["parameters"]} == {
        "base",
        "head",
        "base_environment",
        "head_environment",
        "project",
        "limit",
    }
    assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
    answer = schema["components"]["schemas"]["Compare"]["properties"]
    assert {"base", "head", "status", "ahead_by", "behind_by", "truncated", "commits", "releases"} <= set(answer)
    assert operation.get("security")


def test_the_api_index_is_documented_without_a_token(schema):
    operation = schema["paths"]["/api/v1/"]["get"]

    assert set(schema["components"]["schemas"]["ApiIndex"]["properties"]) >= {"docs", "schema", "endpoints"}
    assert operation.get("security") in (None, [], [{}])
