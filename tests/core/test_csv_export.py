"""CSV downloads of the API's lists: same filters, same tenancy, streamed, safe in a spreadsheet."""

import csv
import io

import pytest

from releasetracker.exports import csv_cell
from tests.factories import DeploymentFactory, EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[dict]:
    assert response.streaming, "a CSV download is streamed, not built in memory"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_deployments_download_as_csv_with_the_list_filters(read_api, org, other_org):
    production = EnvironmentFactory(organization=org, name="production")
    staging = EnvironmentFactory(organization=org, name="staging")
    DeploymentFactory.create_batch(3, organization=org, environment=production, is_hotfix=False)
    DeploymentFactory(organization=org, environment=production, is_hotfix=True, title="=HYPERLINK(1)")
    DeploymentFactory.create_batch(2, organization=org, environment=staging)
    DeploymentFactory.create_batch(2, organization=other_org, title="globexsecret")

    response = read_api.get("/api/v1/deployments/?format=csv&environment=production")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="deployments.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 4 and {row["environment"] for row in rows} == {"production"}
    assert "status_history" not in rows[0] and "globexsecret" not in str(rows)
    hotfix = next(row for row in rows if row["is_hotfix"] == "true")
    assert hotfix["title"] == "'=HYPERLINK(1)"  # not run as a formula by a spreadsheet
    # Newest first, as the JSON list.
    listed = [item["id"] for item in read_api.get("/api/v1/deployments/?environment=production").json()["results"]]
    assert [row["id"] for row in rows] == listed


def test_releases_download_as_csv_with_their_projects(read_api, org):
    ReleaseFactory(organization=org, version="2.0.0")
    ReleaseFactory(organization=org, version="2.1.0")

    response = read_api.get("/api/v1/releases/", HTTP_ACCEPT="text/csv")

    rows = read_csv(response)
    assert [row["version"] for row in rows] == ["2.1.0", "2.0.0"]
    assert set(rows[0]) >= {"id", "version", "projects", "commit_count", "created_at"}


def test_a_bad_filter_with_format_csv_is_a_json_400_naming_it(read_api, org):
    response = read_api.get("/api/v1/deployments/?format=csv&status=bogus")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "status" in response.json()["fields"]


def test_csv_needs_a_token_like_the_list(client, org):
    response = client.get("/api/v1/deployments/?format=csv")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_detail_is_not_offered_as_csv_and_an_unknown_format_is_a_400(read_api, org):
    deployment = DeploymentFactory(organization=org)

    detail = read_api.get(f"/api/v1/deployments/{deployment.public_id}/?format=csv")
    assert detail.status_code == 400 and detail.json()["fields"] == {"format": ["must be one of: json"]}
    metrics = read_api.get("/api/v1/metrics/dora/?format=xml")
    assert metrics.status_code == 400 and metrics.json()["fields"] == {"format": ["must be one of: json, csv"]}


def test_the_download_reads_a_fixed_number_of_queries(read_api, org, django_assert_max_num_queries):
    DeploymentFactory.create_batch(30, organization=org)

    with django_assert_max_num_queries(8):
        rows = read_csv(read_api.get("/api/v1/deployments/?format=csv"))

    assert len(rows) == 30


@pytest.mark.parametrize(
    ("value", "cell"),
    [("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("1.0.0", "1.0.0"), (None, ""), (True, "true"), (["a", "b"], "a;b")],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(value, cell):
    assert csv_cell(value) == cell


def test_the_metrics_series_download_as_csv_one_row_per_bucket(read_api, org):
    production = EnvironmentFactory(organization=org, name="production", is_production=True)
    DeploymentFactory.create_batch(3, organization=org, environment=production)

    response = read_api.get("/api/v1/metrics/dora/?format=csv&bucket=day")

    rows = read_csv(response)
    assert len(rows) in (30, 31)  # the default window, a row per day
    assert sum(int(row["deployments"]) for row in rows) == 3
    assert set(rows[0]) >= {"bucket_start", "change_failure_rate", "recovery_median_seconds", "rework_rate"}
    assert read_api.get("/api/v1/metrics/dora/?format=csv&bucket=year").json()["code"] == "validation_error"
