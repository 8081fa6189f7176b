"""GitHub webhooks: signatures, de-duplication and the mapping of each event, with GitHub-shaped payloads."""

import copy
import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command

from deployments.models import Deployment
from releases.models import Commit, Release
from releases.services import CommitInput, release_create
from releasetracker.models import GitHubDelivery
from tests.factories import UserFactory

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "It's a Secret to Everybody"
SHA = "a10867b14bb761a232cd80139fbd4c0d33264240"
_deliveries = itertools.count(1)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(client, event, payload, *, delivery=None, slug="acme", secret=SECRET, signature=None, **extra):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or f"72d3162e-cc78-11e3-81ab-{next(_deliveries):012d}",
    }
    if signature is not False:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature or sign(body, secret)
    content_type = extra.pop("content_type", "application/json")
    return client.post(f"/hooks/github/{slug}/", data=body, content_type=content_type, **headers, **extra)


@pytest.fixture
def hook_org(org):
    org.github_webhook_secret = SECRET
    org.save(update_fields=["github_webhook_secret"])
    return org


def history(deployment: Deployment) -> list[tuple[str, datetime]]:
    return [(change.status, change.at) for change in deployment.status_changes.order_by("at", "id")]


CREATED = datetime(2024, 5, 2, 10, 31, 5, tzinfo=UTC)  # the fixtures' deployment.created_at
WAITING = datetime(2024, 5, 2, 10, 31, 7, tzinfo=UTC)
STARTED = datetime(2024, 5, 2, 10, 31, 20, tzinfo=UTC)
FINISHED = datetime(2024, 5, 2, 10, 34, 50, tzinfo=UTC)


# Signatures -------------------------------------------------------------------------------------


def test_it_verifies_githubs_documented_signature_example(client, hook_org):
    # GitHub's docs: secret "It's a Secret to Everybody", body "Hello, World!" gives this digest.
    documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    response = deliver(client, "ping", b"Hello, World!", signature=documented)
    # Past the signature (not a 401), then refused because the body is not JSON.
    assert response.status_code == 400
    assert response.json()["error"] == "body: is not valid JSON"


def test_ping_with_a_good_signature_answers_200(client, hook_org):
    response = deliver(client, "ping", fixture("ping"))
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_it_rejects_a_bad_signature_and_stores_nothing(client, hook_org):
    response = deliver(client, "push", fixture("push"), secret="not the secret")
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert "X-Hub-Signature-256 does not match" in response.json()["error"]
    assert Commit.objects.count() == 0
    assert GitHubDelivery.objects.count() == 0


def test_it_rejects_a_missing_signature(client, hook_org):
    response = deliver(client, "push", fixture("push"), signature=False)
    assert response.status_code == 401
    assert "X-Hub-Signature-256 header is missing" in response.json()["error"]
    assert Commit.objects.count() == 0


def test_a_signature_over_a_different_body_is_rejected(client, hook_org):
    body = json.dumps(fixture("push")).encode()
    response = deliver(client, "push", body, signature=sign(body + b" "))
    assert response.status_code == 401


def test_an_unknown_organization_answers_exactly_like_a_bad_signature(client, hook_org):
    unknown = deliver(client, "ping", fixture("ping"), slug="no-such-org")
    bad = deliver(client, "ping", fixture("ping"), secret="wrong")
    assert unknown.status_code == bad.status_code == 401
    assert unknown.json() == bad.json()


def test_an_organization_without_a_secret_refuses_every_delivery(client, org):
    # Even a signature made with an empty key (what an empty secret would be) is refused.
    response = deliver(client, "ping", fixture("ping"), secret="")
    assert response.status_code == 401


def test_another_organizations_secret_does_not_open_this_one(client, hook_org, other_org):
    other_org.github_webhook_secret = "globex secret"
    other_org.save(update_fields=["github_webhook_secret"])
    assert deliver(client, "push", fixture("push"), secret="globex secret").status_code == 401
    assert deliver(client, "push", fixture("push"), slug="globex", secret="globex secret").status_code == 200
    assert Commit.objects.filter(organization=other_org).count() == 2
    assert Commit.objects.filter(organization=hook_org).count() == 0


def test_get_is_not_allowed(client, hook_org):
    response = client.get("/hooks/github/acme/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# De-duplication ----------------------------------------------------------------------------------


def test_a_replayed_delivery_answers_200_and_changes_nothing(client, hook_org):
    deliver(client, "deployment", fixture("deployment"), delivery="d-1")
    first = deliver(client, "deployment_status", fixture("deployment_status_success"), delivery="d-2")
    assert first.status_code == 200
    deployment = Deployment.objects.get()
    before = history(deployment)

    replay = deliver(client, "deployment_status", fixture("deployment_status_success"), delivery="d-2")

    assert replay.status_code == 200
    assert "already processed" in replay.json()["note"]
    assert history(Deployment.objects.get()) == before
    assert GitHubDelivery.objects.filter(organization=hook_org).count() == 2


def test_the_same_delivery_id_in_another_organization_is_a_different_delivery(client, hook_org, other_org):
    other_org.github_webhook_secret = "globex secret"
    other_org.save(update_fields=["github_webhook_secret"])
    deliver(client, "push", fixture("push"), delivery="shared-id")
    response = deliver(client, "push", fixture("push"), delivery="shared-id", slug="globex", secret="globex secret")
    assert response.json()["commits"] == 2


def test_a_refused_delivery_is_not_remembered_so_its_corrected_redelivery_is_processed(client, hook_org):
    broken = fixture("push")
    broken["commits"][0]["id"] = "not-a-sha"
    assert deliver(client, "push", broken, delivery="d-9").status_code == 400
    assert deliver(client, "push", fixture("push"), delivery="d-9").status_code == 200
    assert Commit.objects.count() == 2


# deployment and deployment_status ------------------------------------------------------------------


def test_a_deployment_event_records_a_pending_deployment(client, hook_org):
    response = deliver(client, "deployment", fixture("deployment"))

    assert response.status_code == 200
    deployment = Deployment.objects.select_related("environment", "project").get()
    assert response.json()["deployment"] == str(deployment.public_id)
    assert deployment.organization == hook_org
    assert deployment.environment.name == "production"
    assert deployment.environment.is_production
    assert deployment.commit_sha == SHA
    assert deployment.status == "pending"
    assert deployment.external_id == "1283746501"
    assert deployment.triggered_by == "octocat"
    assert deployment.title == "Deploy v1.4.0 to production"
    assert deployment.branch == "v1.4.0"  # no release v1.4.0 is known, so the ref is kept as sent
    assert deployment.project.name == "hello-world"
    assert deployment.repository_url == "https://github.com/octo-org/hello-world"
    assert deployment.source == "github"
    # Dated by GitHub's created_at, not by the delivery's arrival.
    assert deployment.created_at == CREATED
    assert history(deployment) == [("pending", CREATED)]


def test_a_second_delivery_of_the_same_deployment_changes_nothing_and_says_so(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))

    # Another delivery id (a repository and an organization hook both pointing here, say).
    response = deliver(client, "deployment", fixture("deployment"))

    assert response.status_code == 200
    assert response.json()["note"] == "deployment already recorded (pending); nothing changed"
    assert history(Deployment.objects.get()) == [("pending", CREATED)]


def test_a_sha_first_seen_in_a_deployment_is_stored_in_the_payloads_repository(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))

    commit = Commit.objects.select_related("repository").get(sha=SHA)
    assert commit.repository.name == "octo-org/hello-world"
    assert commit.repository.url == "https://github.com/octo-org/hello-world"
    assert commit.timestamp is None
    assert commit.created_at == CREATED  # first seen when GitHub created the deployment


def test_deployment_statuses_build_the_history_with_githubs_times(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))
    assert deliver(client, "deployment_status", fixture("deployment_status_in_progress")).status_code == 200
    assert deliver(client, "deployment_status", fixture("deployment_status_success")).status_code == 200

    deployment = Deployment.objects.get()
    assert deployment.status == "success"
    assert deployment.started_at == STARTED
    assert deployment.finished_at == FINISHED
    assert deployment.occurred_at == FINISHED
    assert deployment.duration_seconds == 210
    assert deployment.url == "https://github.com/octo-org/hello-world/actions/runs/9123456789/job/25087654321"
    assert history(deployment) == [("pending", CREATED), ("in_progress", STARTED), ("success", FINISHED)]


@pytest.mark.parametrize(
    ("state", "expected"), [("error", "failure"), ("failure", "failure"), ("queued", "queued"), ("waiting", "queued")]
)
def test_github_states_map_to_ours(client, hook_org, state, expected):
    deliver(client, "deployment", fixture("deployment"))
    payload = fixture("deployment_status_success")
    payload["deployment_status"]["state"] = state
    assert deliver(client, "deployment_status", payload).status_code == 200
    assert Deployment.objects.get().status == expected


def test_githubs_waiting_status_of_a_protected_environment_is_accepted_as_queued(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))

    response = deliver(client, "deployment_status", fixture("deployment_status_waiting"))

    assert response.status_code == 200
    assert response.json()["note"] == "deployment status set to queued"
    assert Deployment.objects.get().status == "queued"


def test_an_inactive_state_is_acknowledged_and_keeps_the_outcome(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))
    deliver(client, "deployment_status", fixture("deployment_status_success"))
    payload = fixture("deployment_status_success")
    payload["deployment_status"].update(state="inactive", created_at="2024-05-03T08:00:00Z")

    response = deliver(client, "deployment_status", payload)

    assert response.status_code == 202
    assert Deployment.objects.get().status == "success"


def test_a_status_arriving_before_its_deployment_records_the_deployment(client, hook_org):
    first = deliver(client, "deployment_status", fixture("deployment_status_success"))
    assert (first.status_code, first.json()["note"]) == (200, "deployment recorded as success")
    then = deliver(client, "deployment", fixture("deployment"))
    assert (then.status_code, then.json()["note"]) == (200, "deployment already recorded (success); nothing changed")

    deployment = Deployment.objects.get()
    assert deployment.status == "success"
    assert deployment.finished_at == FINISHED
    # The status carries its deployment, created_at included: recorded as GitHub created it.
    assert history(deployment) == [("pending", CREATED), ("success", FINISHED)]


def test_a_late_older_status_does_not_undo_a_newer_one(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))
    deliver(client, "deployment_status", fixture("deployment_status_success"))

    response = deliver(client, "deployment_status", fixture("deployment_status_in_progress"))

    assert response.status_code == 200
    assert response.json()["note"] == (
        "state 'in_progress' predates the deployment's status (success): added to its history only"
    )
    deployment = Deployment.objects.get()
    assert (deployment.status, deployment.finished_at) == ("success", FINISHED)
    assert (deployment.started_at, deployment.duration_seconds) == (STARTED, 210)
    assert history(deployment) == [("pending", CREATED), ("in_progress", STARTED), ("success", FINISHED)]


# A deployment to a protected environment: created, held for approval (waiting), then run.
PROTECTED = [
    ("deployment", "deployment"),
    ("deployment_status", "deployment_status_waiting"),
    ("deployment_status", "deployment_status_in_progress"),
    ("deployment_status", "deployment_status_success"),
]


@pytest.mark.parametrize(
    "order",
    [
        pytest.param((0, 1, 2, 3), id="in-order"),
        pytest.param((3, 2, 1, 0), id="reversed"),
        pytest.param((3, 0, 2, 1), id="success-first"),
        # The waiting delivery GitHub retries after it was refused, once the deployment is done.
        pytest.param((0, 2, 3, 1), id="waiting-redelivered-last"),
    ],
)
def test_a_protected_environment_deployment_ends_the_same_in_any_order_and_counts_once(
    client, hook_org, read_api, order
):
    deliver(client, "push", fixture("push"))  # the commit's own time, for lead time
    for index in order:
        event, name = PROTECTED[index]
        response = deliver(client, event, fixture(name))
        assert response.status_code == 200, response.content

    deployment = Deployment.objects.get()
    assert (deployment.status, deployment.created_at) == ("success", CREATED)
    assert (deployment.started_at, deployment.finished_at, deployment.duration_seconds) == (STARTED, FINISHED, 210)
    assert deployment.url == "https://github.com/octo-org/hello-world/actions/runs/9123456789/job/25087654321"
    assert history(deployment) == [
        ("pending", CREATED),
        ("queued", WAITING),
        ("in_progress", STARTED),
        ("success", FINISHED),
    ]

    metrics = read_api.get(
        "/api/v1/metrics/dora/", {"since": "2024-05-01T00:00:00Z", "until": "2024-05-04T00:00:00Z", "bucket": "day"}
    ).json()
    frequency = metrics["deployment_frequency"]
    assert frequency["count"] == 1
    assert [day["count"] for day in frequency["series"]] == [0, 1, 0]  # on 2 May, when it finished
    # From the commit's time in the push (10:28:03) to the success (10:34:50).
    assert (metrics["lead_time"]["commits"], metrics["lead_time"]["median_seconds"]) == (1, 407.0)
    assert (metrics["change_failure_rate"]["failed"], metrics["change_failure_rate"]["total"]) == (0, 1)


def test_a_deployment_of_a_released_tag_deploys_that_release(client, hook_org):
    deliver(client, "release", fixture("release_published"))
    deliver(client, "deployment", fixture("deployment"))
    deliver(client, "deployment_status", fixture("deployment_status_success"))

    deployment = Deployment.objects.select_related("release", "project").get()
    assert deployment.release.version == "v1.4.0"
    assert deployment.project.name == "hello-world"  # the release's only project
    assert deployment.branch == ""


# release -------------------------------------------------------------------------------------------


def test_a_published_release_is_recorded_with_its_tag_as_version(client, hook_org):
    response = deliver(client, "release", fixture("release_published"))

    assert response.status_code == 200
    release = Release.objects.get()
    assert release.organization == hook_org
    assert release.version == "v1.4.0"
    assert release.name == "Hello World 1.4.0"
    assert release.ref == "main"
    assert release.url == "https://github.com/octo-org/hello-world/releases/tag/v1.4.0"
    assert release.date_released == datetime(2024, 5, 2, 10, 30, 12, tzinfo=UTC)
    assert [p.name for p in release.projects.all()] == ["hello-world"]
    assert release.source == "github"


@pytest.mark.parametrize("action", ["created", "edited", "deleted", "prereleased"])
def test_other_release_actions_are_acknowledged_and_ignored(client, hook_org, action):
    payload = fixture("release_published")
    payload["action"] = action
    response = deliver(client, "release", payload)
    assert response.status_code == 202
    assert Release.objects.count() == 0


def test_a_release_already_reported_by_ci_keeps_its_commits_and_gains_its_url(client, hook_org):
    release_create(
        organization=hook_org, version="v1.4.0", projects=["hello"], commits=[CommitInput(sha=SHA, message="Fix")]
    )

    response = deliver(client, "release", fixture("release_published"))

    assert response.status_code == 200
    assert "already recorded" in response.json()["note"]
    release = Release.objects.get()
    assert release.url == "https://github.com/octo-org/hello-world/releases/tag/v1.4.0"
    assert [c.sha for c in release.commits.all()] == [SHA]
    assert [p.name for p in release.projects.all()] == ["hello"]


# push ----------------------------------------------------------------------------------------------


def test_a_push_to_the_default_branch_records_its_commits_with_times_and_authors(client, hook_org):
    response = deliver(client, "push", fixture("push"))

    assert response.status_code == 200
    assert response.json()["commits"] == 2
    first = Commit.objects.select_related("repository").get(sha="6113728f27ae82c7b1a177c8d03f9e96e0adf246")
    assert first.organization == hook_org
    assert first.timestamp == datetime(2024, 5, 1, 14, 12, 40, tzinfo=UTC)  # sent as 16:12:40+02:00
    assert first.author_name == "Mona Lisa"
    assert first.author_email == "mona@example.com"
    assert first.message.startswith("Add greeting in French (#41)\n\nCo-authored-by:")
    assert first.repository.name == "octo-org/hello-world"
    assert first.repository.url == "https://github.com/octo-org/hello-world"
    assert Commit.objects.get(sha=SHA).timestamp == datetime(2024, 5, 2, 10, 28, 3, tzinfo=UTC)


def test_a_push_gives_a_commit_first_seen_bare_its_real_time(client, hook_org):
    deliver(client, "deployment", fixture("deployment"))  # knows only the sha
    deliver(client, "push", fixture("push"))
    assert Commit.objects.get(sha=SHA).timestamp == datetime(2024, 5, 2, 10, 28, 3, tzinfo=UTC)


@pytest.mark.parametrize("ref", ["refs/heads/feature/french", "refs/tags/v1.4.0"])
def test_a_push_elsewhere_than_the_default_branch_is_ignored(client, hook_org, ref):
    payload = fixture("push")
    payload["ref"] = ref
    response = deliver(client, "push", payload)
    assert response.status_code == 202
    assert Commit.objects.count() == 0


def test_a_form_encoded_delivery_is_accepted(client, hook_org):
    body = urlencode({"payload": json.dumps(fixture("push"))}).encode()
    response = deliver(client, "push", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert Commit.objects.count() == 2


# Unknown and malformed -----------------------------------------------------------------------------


def test_an_unknown_event_is_acknowledged_with_202_and_ignored(client, hook_org):
    response = deliver(client, "issues", fixture("issues_opened"))
    assert response.status_code == 202
    assert "not tracked" in response.json()["note"]
    assert GitHubDelivery.objects.count() == 0


def _without(payload: dict, *path: str) -> dict:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


def _with(payload: dict, value, *path) -> dict:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [
        ("push", b"{not json", "body"),
        ("push", b"[1, 2]", "body"),
        ("deployment", _without(fixture("deployment"), "deployment", "id"), "deployment.id"),
        ("deployment", _with(fixture("deployment"), "1283746501", "deployment", "id"), "deployment.id"),
        ("deployment", _with(fixture("deployment"), "not-a-sha", "deployment", "sha"), "commit_sha"),
        ("deployment", _without(fixture("deployment"), "repository"), "repository"),
        (
            "deployment_status",
            _with(fixture("deployment_status_success"), "done", "deployment_status", "state"),
            "deployment_status.state",
        ),
        (
            "deployment_status",
            _with(fixture("deployment_status_success"), "yesterday", "deployment_status", "created_at"),
            "deployment_status.created_at",
        ),
        ("release", _without(fixture("release_published"), "release", "tag_name"), "release.tag_name"),
        ("push", _with(fixture("push"), "zzz", "commits", 0, "id"), "commits.0.sha"),
        ("push", _with(fixture("push"), "not a list", "commits"), "commits"),
        ("push", _with(fixture("push"), "2024-05-01 16:12", "commits", 1, "timestamp"), "commits.1.timestamp"),
    ],
)
def test_a_malformed_payload_is_a_400_naming_the_field_and_stores_nothing(client, hook_org, event, payload, field):
    response = deliver(client, event, payload)

    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith(f"{field}: ")
    assert body["code"] == "validation_error"
    assert Deployment.objects.count() == Release.objects.count() == Commit.objects.count() == 0
    assert GitHubDelivery.objects.count() == 0


@pytest.mark.parametrize("header", ["HTTP_X_GITHUB_EVENT", "HTTP_X_GITHUB_DELIVERY"])
def test_a_delivery_without_githubs_headers_is_a_400(client, hook_org, header):
    body = json.dumps(fixture("push")).encode()
    headers = {"HTTP_X_GITHUB_EVENT": "push", "HTTP_X_GITHUB_DELIVERY": "d-1", "HTTP_X_HUB_SIGNATURE_256": sign(body)}
    del headers[header]
    response = client.post("/hooks/github/acme/", data=body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert Commit.objects.count() == 0


# webhook_secret command ----------------------------------------------------------------------------


def test_webhook_secret_creates_a_secret_once_and_prints_it_every_time(client, org):
    first, second = StringIO(), StringIO()
    call_command("webhook_secret", "acme", stdout=first, stderr=StringIO())
    call_command("webhook_secret", "acme", stdout=second, stderr=StringIO())

    secret = first.getvalue().strip()
    assert len(secret) == 64
    assert second.getvalue().strip() == secret
    # The printed secret is the one the endpoint checks.
    assert deliver(client, "ping", fixture("ping"), secret=secret).status_code == 200


def test_webhook_secret_rotate_replaces_the_secret(client, hook_org):
    out = StringIO()
    call_command("webhook_secret", "acme", "--rotate", stdout=out, stderr=StringIO())
    new = out.getvalue().strip()
    assert new != SECRET
    assert deliver(client, "ping", fixture("ping")).status_code == 401
    assert deliver(client, "ping", fixture("ping"), secret=new).status_code == 200


def test_webhook_secret_names_an_unknown_organization(db):
    with pytest.raises(CommandError, match="no organization with slug 'nope'"):
        call_command("webhook_secret", "nope", stdout=StringIO())


# Admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, db):
    admin_user = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    return client


def test_the_secret_set_in_the_admin_is_the_one_deliveries_are_checked_with(staff_client, org):
    url = f"/admin/releasetracker/organization/{org.pk}/change/"
    assert "GitHub webhook secret" in staff_client.get(url).content.decode()

    response = staff_client.post(
        url,
        {
            "slug": "acme",
            "name": "Acme",
            "timezone": "UTC",
            "github_webhook_secret": "set in the admin",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert deliver(staff_client, "ping", fixture("ping"), secret="set in the admin").status_code == 200


def test_the_admin_lists_handled_deliveries(staff_client, hook_org):
    deliver(staff_client, "push", fixture("push"), delivery="listed-delivery")
    page = staff_client.get("/admin/releasetracker/githubdelivery/")
    assert page.status_code == 200
    assert "listed-delivery" in page.content.decode()
