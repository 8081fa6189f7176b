"""One rule for shas, everywhere: a unique prefix of a known commit is that commit.

Through the API: recording settles an abbreviated sha to the commit it names, so lead time, the
rollback check and the commit list all see one commit. Also: a detected rollback that fails is
no longer a rollback.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from releases.models import Commit

pytestmark = pytest.mark.django_db

DEPLOYMENTS = "/api/v1/deployments/"
METRICS = "/api/v1/metrics/dora/"
FULL = "aaaa1111" + "2" * 32
SHORT = FULL[:7]
OTHER = "b" * 40


def window() -> dict:
    # Bare shas are dated when the tracker first sees them: now.
    now = timezone.now()
    return {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}


def deploy(api, sha: str, environment: str = "production", **fields) -> dict:
    """A deployment finished now: in the order of the calls."""
    body = {"environment": environment, "commit_sha": sha, **fields}
    response = api.post(DEPLOYMENTS, json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def lead_time(api) -> dict:
    response = api.get(METRICS, window())
    assert response.status_code == 200, response.content
    return response.json()["lead_time"]


def test_a_deployment_naming_an_abbreviated_sha_of_a_known_commit_gets_its_lead_time(api, org):
    deploy(api, FULL, environment="staging")

    production = deploy(api, SHORT)

    assert production["commit_sha"] == FULL
    lead = lead_time(api)
    assert lead["commits"] == 1
    assert lead["median_seconds"] > 0  # from the staging record, when the tracker first saw it
    assert Commit.objects.filter(organization=org).count() == 1


def test_a_short_sha_followed_by_the_full_one_is_one_commit(api, org, read_api):
    staging = deploy(api, SHORT, environment="staging")
    first_seen = Commit.objects.get(organization=org).created_at

    deploy(api, FULL)

    commits = Commit.objects.filter(organization=org)
    assert [(c.sha, c.created_at) for c in commits] == [(FULL, first_seen)]
    # The staging deployment now names the commit by its full sha too.
    assert read_api.get(f"{DEPLOYMENTS}{staging['id']}/").json()["commit_sha"] == FULL


def test_a_release_listing_the_full_sha_of_a_commit_seen_short_completes_it(api, org):
    deploy(api, SHORT, environment="staging")

    response = api.post(
        "/api/v1/releases/", {"version": "1.0.0", "commits": [{"sha": FULL, "message": "Fix"}]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert list(Commit.objects.filter(organization=org).values_list("sha", "message")) == [(FULL, "Fix")]


def test_a_release_listing_an_abbreviated_sha_links_the_known_commit(api, org):
    deploy(api, FULL, environment="staging")

    response = api.post("/api/v1/releases/", {"version": "1.0.0", "commits": [{"sha": SHORT}]}, format="json")

    assert response.status_code == 201, response.content
    assert list(Commit.objects.filter(organization=org).values_list("sha", flat=True)) == [FULL]
    assert [c["sha"] for c in response.json()["commits"]] == [FULL]


def test_an_abbreviated_sha_of_two_known_commits_stays_as_sent(api, org):
    deploy(api, FULL, environment="staging")
    deploy(api, SHORT + "f" * 33, environment="staging")

    production = deploy(api, SHORT)

    assert production["commit_sha"] == SHORT
    assert Commit.objects.filter(organization=org).count() == 2


def test_putting_back_a_sha_by_its_abbreviation_is_a_rollback(api):
    deploy(api, FULL)
    deploy(api, OTHER)

    back = deploy(api, SHORT)

    assert back["is_rollback"] is True


def test_a_detected_rollback_that_fails_is_no_longer_a_rollback(api, read_api):
    deploy(api, FULL)
    deploy(api, OTHER)
    back = deploy(api, FULL)
    assert back["is_rollback"] is True
    body = read_api.get(METRICS, window()).json()
    # The rollback blames the deployment it replaced, and recovers it.
    assert (body["change_failure_rate"]["failed"], body["change_failure_rate"]["total"]) == (1, 3)
    assert (body["recovery_time"]["recovered"], body["recovery_time"]["unrecovered"]) == (1, 0)

    failed = api.patch(f"{DEPLOYMENTS}{back['id']}/", {"status": "failure"}, format="json")

    assert failed.status_code == 200, failed.content
    assert failed.json()["is_rollback"] is False
    body = read_api.get(METRICS, window()).json()
    # Only the failed deployment itself is a failed change now, not the one it tried to replace.
    assert (body["change_failure_rate"]["failed"], body["change_failure_rate"]["total"]) == (1, 3)
    assert (body["recovery_time"]["recovered"], body["recovery_time"]["unrecovered"]) == (0, 1)


def test_a_rollback_the_client_declared_stays_one_when_it_fails(api):
    deploy(api, FULL)
    declared = deploy(api, OTHER, is_rollback=True)

    failed = api.patch(f"{DEPLOYMENTS}{declared['id']}/", {"status": "failure"}, format="json")

    assert failed.json()["is_rollback"] is True
