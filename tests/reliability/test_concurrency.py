"""Races between identical requests, sent at once by threads to a live server on PostgreSQL.

CI systems retry and run in parallel; the database's unique constraints settle every race
(services catch IntegrityError and answer with the winner's row), never check-then-insert.
"""

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import connection

from deployments.models import Deployment
from releases.models import Commit, Release, ReleaseCommit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

THREADS = 20


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes every write; races need PostgreSQL (set DATABASE_URL)")


def send_at_once(url: str, token: str, bodies: list[dict], headers: dict | None = None) -> list[tuple[int, dict]]:
    """POST every body from its own thread, released together by a barrier; return (status, json) in order."""
    barrier = threading.Barrier(len(bodies))

    def one(body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 - our own live server
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
        )
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our live server
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(autouse=True)
def no_redirects():
    # A 303 must come back as a 303, not be followed to the existing object.
    previous = urllib.request._opener
    urllib.request.install_opener(urllib.request.build_opener(NoRedirect))
    yield
    urllib.request.install_opener(previous)


@pytest.fixture
def token(write_token) -> str:
    return write_token[1]


def test_twenty_identical_release_creations_make_one_release(live_server, token):
    body = {
        "version": "5.0.0",
        "projects": ["web", "api"],
        "commits": [{"sha": f"{n:040x}", "message": f"change {n}", "repository": "acme/web"} for n in range(50)],
    }
    answers = send_at_once(f"{live_server.url}/api/v1/releases/", token, [body] * THREADS)
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {201, 303}, answers
    assert statuses[201] == 1
    assert Release.objects.count() == 1
    assert Commit.objects.count() == 50
    assert ReleaseCommit.objects.count() == 50
    assert len({data["id"] for _, data in answers}) == 1


def test_twenty_identical_deployments_with_one_external_id_make_one_deployment(live_server, token):
    body = {"environment": "production", "commit_sha": "b" * 40, "external_id": "pipeline-77", "status": "success"}
    answers = send_at_once(f"{live_server.url}/api/v1/deployments/", token, [body] * THREADS)
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {201, 303}, answers
    assert statuses[201] == 1
    assert Deployment.objects.count() == 1
    assert len({data["id"] for _, data in answers}) == 1


def test_twenty_identical_incidents_with_one_external_id_make_one_incident(live_server, token):
    from incidents.models import Incident

    body = {"title": "Checkout returns 500", "external_id": "INC-9", "started_at": "2026-10-12T09:00:00Z"}
    answers = send_at_once(f"{live_server.url}/api/v1/incidents/", token, [body] * THREADS)
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {201, 303}, answers
    assert statuses[201] == 1
    assert Incident.objects.count() == 1
    assert len({data["id"] for _, data in answers}) == 1


def test_releases_sharing_commits_created_at_once_both_succeed_with_unique_commits(live_server, token):
    shared = [f"{n:040x}" for n in range(200)]
    bodies = []
    for n in range(10):
        # Opposite orders make two inserts of the same rows meet in opposite directions.
        commits = shared if n % 2 else list(reversed(shared))
        projects = ["web", "api", "worker"] if n % 2 else ["worker", "api", "web"]
        bodies.append({"version": f"6.0.{n}", "projects": projects, "commits": commits + [f"{1000 + n:040x}"]})
    answers = send_at_once(f"{live_server.url}/api/v1/releases/", token, bodies)
    assert [status for status, _ in answers] == [201] * len(bodies), answers
    assert Release.objects.count() == len(bodies)
    assert Commit.objects.count() == len(shared) + len(bodies)
    for release in Release.objects.all():
        assert release.release_commits.count() == len(shared) + 1


def test_twenty_retries_with_one_idempotency_key_make_one_object_and_identical_answers(live_server, token):
    # No external_id: only the key stops twenty deployments.
    body = {"environment": "staging", "commit_sha": "c" * 40, "title": "retry storm"}
    answers = send_at_once(
        f"{live_server.url}/api/v1/deployments/", token, [body] * THREADS, headers={"Idempotency-Key": "storm-1"}
    )
    assert Deployment.objects.count() == 1
    assert {status for status, _ in answers} == {201}, answers
    assert all(data == answers[0][1] for _, data in answers)


def test_deployments_recorded_at_once_to_one_environment_keep_their_outcomes_exact(live_server, token):
    from deployments.outcomes import outcomes_fill

    # Out of time order and with hotfixes and failures among them, so each write's stretch of the
    # stream overlaps the others': each must see the ones committed before it.
    bodies = [
        {
            "environment": "production",
            "commit_sha": f"{n:040x}",
            "status": "failure" if n % 5 == 0 else "success",
            "is_hotfix": n % 3 == 0,
            "finished_at": f"2026-10-01T{(n * 7) % THREADS:02d}:00:00Z",
        }
        for n in range(THREADS)
    ]
    answers = send_at_once(f"{live_server.url}/api/v1/deployments/", token, bodies)
    assert [status for status, _ in answers] == [201] * THREADS, answers
    kept = set(Deployment.objects.values_list("id", "failed_alone", "next_clean_id", "next_clean_at"))

    outcomes_fill()

    assert set(Deployment.objects.values_list("id", "failed_alone", "next_clean_id", "next_clean_at")) == kept
    assert Deployment.objects.filter(failed_alone=True).count() > THREADS // 5


def test_status_changes_and_new_deployments_at_once_in_one_environment_neither_deadlock_nor_drift(
    live_server, token, org
):
    from deployments.outcomes import outcomes_fill
    from deployments.services import deployment_record

    # Pending deployments whose successes, reported at once with new deployments between them,
    # move rows that the new deployments' upkeep rewrites (and the other way round).
    pending = [
        deployment_record(
            organization=org,
            environment="production",
            commit_sha=f"{n:040x}",
            status="pending",
            started_at=datetime(2026, 10, 1, 2 * n, tzinfo=UTC),
        )[0]
        for n in range(THREADS // 2)
    ]
    requests = [
        (
            f"{live_server.url}/api/v1/deployments/{d.public_id}/",
            "PATCH",
            {"status": "success", "at": f"2026-10-01T{2 * n:02d}:30:00Z"},
        )
        for n, d in enumerate(pending)
    ] + [
        (
            f"{live_server.url}/api/v1/deployments/",
            "POST",
            {
                "environment": "production",
                "commit_sha": f"{100 + n:040x}",
                "is_hotfix": n % 3 == 0,
                "finished_at": f"2026-10-01T{2 * n + 1:02d}:00:00Z",
            },
        )
        for n in range(THREADS // 2)
    ]
    barrier = threading.Barrier(len(requests))

    def one(url: str, method: str, body: dict) -> int:
        request = urllib.request.Request(  # noqa: S310 - our own live server
            url,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our live server
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        statuses = list(pool.map(lambda args: one(*args), requests))

    assert statuses == [200] * (THREADS // 2) + [201] * (THREADS // 2)
    kept = set(Deployment.objects.values_list("id", "failed_alone", "next_clean_id", "next_clean_at"))
    outcomes_fill()
    assert set(Deployment.objects.values_list("id", "failed_alone", "next_clean_id", "next_clean_at")) == kept
