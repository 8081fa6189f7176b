"""What schemathesis (all checks) found where the schema and the behaviour disagreed, one test each.

The remaining differences are explained in docs/reliability.md ("Schemathesis, all checks").
"""

import pytest
from rest_framework.test import APIClient

from releases.services import release_create
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def request_schema(schema: dict, path: str, method: str) -> dict:
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]


def test_a_body_that_refuses_unknown_fields_says_so_in_the_schema(schema, api):
    assert request_schema(schema, "/api/v1/releases/", "post")["additionalProperties"] is False

    response = api.post("/api/v1/releases/", {"version": "1.0", "stauts": "x"}, format="json")

    assert response.status_code == 400
    assert "stauts" in response.json()["error"]


def test_page_size_zero_is_refused_and_the_schema_says_the_minimum_is_one(schema, api):
    parameter = next(p for p in schema["paths"]["/api/v1/releases/"]["get"]["parameters"] if p["name"] == "page_size")
    assert parameter["schema"]["minimum"] == 1

    assert api.get("/api/v1/releases/?page_size=0").status_code == 400


def test_a_list_that_may_not_be_empty_has_min_items_one(schema, api, org):
    commits = request_schema(schema, "/api/v1/releases/{id}/commits/", "post")["properties"]["commits"]
    assert commits["minItems"] == 1
    release, _ = release_create(organization=org, version="1.0", created_by="test")

    response = api.post(f"/api/v1/releases/{release.public_id}/commits/", {"commits": []}, format="json")

    assert response.status_code == 400
    assert "commits" in response.json()["error"]


def test_a_commit_given_as_a_string_must_look_like_a_sha_in_the_schema_too(schema, api):
    commit = request_schema(schema, "/api/v1/releases/", "post")["properties"]["commits"]["items"]
    string = next(option for option in commit["oneOf"] if option.get("type") == "string")
    assert string["pattern"] == r"^\s*[0-9a-fA-F]{7,64}\s*$"

    response = api.post("/api/v1/releases/", {"version": "1.0", "commits": [""]}, format="json")

    assert response.status_code == 400
    assert "commits.0" in response.json()["error"]


def test_renaming_an_environment_onto_another_is_a_documented_409(schema, api):
    assert "409" in schema["paths"]["/api/v1/environments/{id}/"]["patch"]["responses"]
    api.post("/api/v1/environments/", {"name": "staging"}, format="json")
    created = api.post("/api/v1/environments/", {"name": "qa"}, format="json").json()

    response = api.patch(f"/api/v1/environments/{created['id']}/", {"name": "staging"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_a_redelivery_of_a_malformed_delivery_id_is_a_json_404(api, org):
    endpoint = endpoint_create(organization=org, url="https://hooks.example.com/rt", events=["deployment.failed"])

    response = api.post(f"/api/v1/webhooks/{endpoint.public_id}/deliveries/0.5/redeliver/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_a_refs_commit_must_look_like_a_sha_in_the_schema_too(schema, api):
    ref = schema["components"]["schemas"]["RefInputRequest"]["properties"]
    assert ref["commit"]["pattern"] == r"^\s*[0-9a-fA-F]{7,64}\s*$"
    assert ref["previous_commit"]["nullable"] is True

    response = api.post(
        "/api/v1/releases/", {"version": "1.0", "refs": [{"repository": "r", "commit": "0"}]}, format="json"
    )

    assert response.status_code == 400
    assert "refs.0.commit" in response.json()["error"]


def test_a_commit_without_a_repository_answers_null_where_the_schema_allows_it(schema, api, org):
    assert schema["components"]["schemas"]["Commit"]["properties"]["repository"]["nullable"] is True
    api.post("/api/v1/releases/", {"version": "1.0", "commits": ["abcdef0"]}, format="json")

    commit = api.get("/api/v1/commits/").json()["results"][0]

    assert commit["repository"] is None


def test_a_repository_named_by_a_ref_is_answered_without_the_create_pattern(schema, api):
    assert "pattern" in request_schema(schema, "/api/v1/repositories/", "post")["properties"]["name"]
    assert "pattern" not in schema["components"]["schemas"]["Repository"]["properties"]["name"]
    refs = [{"repository": "mono", "commit": "abcdef0"}]
    api.post("/api/v1/releases/", {"version": "1.0", "refs": refs}, format="json")

    names = [row["name"] for row in api.get("/api/v1/repositories/").json()["results"]]

    assert names == ["mono"]
