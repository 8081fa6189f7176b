"""GET /api/v1/metrics/dora/: the worked example over HTTP, its parameters and its errors."""

from datetime import UTC, datetime, timedelta

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from tests.metrics.scenario import EXPECTED, at, build_worked_example, deploy, release

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/dora/"
WINDOW = {"since": "2024-03-04T00:00:00Z", "until": "2024-03-18T00:00:00Z"}


def test_a_read_token_gets_the_worked_example_in_the_documented_shape(read_api, org, other_org):
    build_worked_example(org, other_org)

    response = read_api.get(URL, WINDOW)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "since",
        "until",
        "project",
        "environment",
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "rework_rate",
        "incidents",
    ]
    assert (body["since"], body["until"], body["project"], body["environment"]) == (
        "2024-03-04T00:00:00Z",
        "2024-03-18T00:00:00Z",
        None,
        None,
    )
    for key, expected in EXPECTED.items():
        assert {name: value for name, value in body[key].items() if name != "series"} == expected
    assert body["deployment_frequency"]["series"] == [
        {"start": "2024-03-04T00:00:00Z", "count": 4},
        {"start": "2024-03-11T00:00:00Z", "count": 3},
    ]


def test_times_with_an_offset_are_read_in_utc(read_api, org):
    build_worked_example(org)

    response = read_api.get(URL, {"since": "2024-03-04T01:00:00+01:00", "until": "2024-03-17T19:00:00-05:00"})

    assert response.status_code == 200
    assert (response.json()["since"], response.json()["until"]) == ("2024-03-04T00:00:00Z", "2024-03-18T00:00:00Z")
    assert response.json()["deployment_frequency"]["count"] == EXPECTED["deployment_frequency"]["count"]


def test_day_buckets_give_one_point_per_day(read_api, org):
    build_worked_example(org)

    series = read_api.get(URL, {**WINDOW, "bucket": "day"}).json()["deployment_frequency"]["series"]

    assert len(series) == 14
    assert series[1] == {"start": "2024-03-05T00:00:00Z", "count": 1}


def test_project_and_environment_filters_are_applied_and_echoed(read_api, org):
    release(org, "web-1", {1: at(0)}, project="web")
    deploy(org, "web-1", at(1), environment="staging")
    deploy(org, "web-1", at(2), environment="production")
    build_worked_example(org)

    body = read_api.get(URL, {**WINDOW, "project": "web", "environment": "staging"}).json()

    assert (body["project"], body["environment"]) == ("web", "staging")
    assert body["deployment_frequency"]["count"] == 1
    assert body["lead_time"]["median_seconds"] == 86400.0


def test_the_token_sees_only_its_own_organization(other_api, org, other_org):
    build_worked_example(org, other_org)

    body = other_api.get(URL, WINDOW).json()

    assert body["deployment_frequency"]["count"] == 1
    assert body["change_failure_rate"]["failed"] == 1


def test_another_organizations_project_name_is_unknown(other_api, org):
    release(org, "1.0", {1: at(0)}, project="secret-project")

    response = other_api.get(URL, {**WINDOW, "project": "secret-project"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"project": ["no project named 'secret-project' in this organization"]}


def test_without_a_token_it_answers_401(client):
    response = client.get(URL, WINDOW)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_with_a_revoked_token_it_answers_401(read_api):
    from releasetracker.services import token_revoke

    token_revoke(organization=read_api.token.organization, token=read_api.token)

    assert read_api.get(URL, WINDOW).status_code == 401


def test_without_since_and_until_it_answers_the_last_30_days(read_api):
    body = read_api.get(URL).json()

    assert body["deployment_frequency"]["count"] == 0
    assert body["deployment_frequency"]["band"] == "low"
    assert body["lead_time"]["median_seconds"] is None
    assert 4 <= len(body["deployment_frequency"]["series"]) <= 6


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "2024-03-04"}, "since", "must carry a timezone"),
        ({"since": "2024-03-04T00:00:00"}, "since", "must carry a timezone"),
        ({"since": "last week"}, "since", "must be an ISO 8601 date-time"),
        ({"until": "2024-13-01T00:00:00Z"}, "until", "must be an ISO 8601 date-time"),
        ({**WINDOW, "since": "2024-03-18T00:00:00Z"}, "since", "must be before until"),
        ({**WINDOW, "since": "2024-04-01T00:00:00Z"}, "since", "must be before until"),
        ({"since": "2023-01-01T00:00:00Z", "until": "2024-03-01T00:00:00Z"}, "until", "at most 366 days"),
        ({"until": "0001-01-01T00:00:00Z"}, "until", "must be on or after 0002-02-"),
        ({"since": "0001-01-02T00:00:00Z", "until": "0001-01-20T00:00:00Z"}, "until", "must be on or after"),
        ({"since": "0002-01-01T00:00:00Z", "until": "0002-12-01T00:00:00Z"}, "since", "must be on or after"),
        ({**WINDOW, "bucket": "month"}, "bucket", "not a valid choice"),
        ({**WINDOW, "project": "nope"}, "project", "no project named 'nope'"),
        ({**WINDOW, "environment": "moon"}, "environment", "no environment named 'moon'"),
        ({**WINDOW, "environment": "x" * 101}, "environment", "no more than 100 characters"),
    ],
)
def test_bad_parameters_answer_400_naming_the_parameter(read_api, org, params, field, message):
    response = read_api.get(URL, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["error"].startswith(f"{field}: ")
    assert message in body["error"]
    assert list(body["fields"]) == [field]


def test_the_answer_takes_a_constant_number_of_queries(read_api, org, django_assert_max_num_queries):
    build_worked_example(org)
    read_api.get(URL, WINDOW)  # the token's last-used time is written at most once a minute

    # token lookup, environments, project, the deployments' metrics, lead time's counts and its values
    with django_assert_max_num_queries(6):
        assert read_api.get(URL, {**WINDOW, "project": "api"}).status_code == 200


def test_the_openapi_schema_documents_the_endpoint_without_warnings():
    GENERATOR_STATS.reset()

    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"][URL]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"since", "until", "project", "environment", "bucket", "format"}
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "429"}
    assert "DoraMetrics" in schema["components"]["schemas"]
    ours = [
        message for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache] if "metrics" in message
    ]
    assert ours == []


def test_the_window_may_end_in_the_future(read_api):
    # The metrics page asks for whole days up to the next midnight.
    now = datetime.now(UTC)
    params = {"since": (now - timedelta(days=7)).isoformat(), "until": (now + timedelta(days=1)).isoformat()}

    response = read_api.get(URL, params)

    assert response.status_code == 200
    assert len(response.json()["deployment_frequency"]["series"]) in (2, 3)
