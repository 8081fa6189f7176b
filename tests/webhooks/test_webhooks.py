"""Outgoing webhooks against a real HTTP receiver on 127.0.0.1."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from deployments.services import deployment_change_status, deployment_record
from releases.services import release_create
from webhooks.models import WebhookDelivery
from webhooks.services import deliver_due, endpoint_create

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A real HTTP server that records what it receives and answers with scripted status codes."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answered in order; 200 once empty
        self.release = threading.Event()  # set it to let a blocked request answer
        self.block = False
        self.answer: bytes | None = None  # the body of every answer; "answer <status>" when None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.block:
                    receiver.release.wait(10)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/redirected")
                self.end_headers()
                self.wfile.write(receiver.answer if receiver.answer is not None else f"answer {status}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def allow_local(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 10
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    return settings


def events_received(receiver) -> list[str]:
    return [r["headers"]["X-Release-Tracker-Event"] for r in receiver.requests]


@pytest.mark.django_db
def test_a_delivery_is_signed_with_the_endpoint_secret(org, receiver, allow_local):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["deployment.created"], secret="s3cret")
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    assert deliver_due() == 1

    [request] = receiver.requests
    expected = "sha256=" + hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Release-Tracker-Signature-256"] == expected
    assert request["headers"]["Content-Type"] == "application/json"
    payload = json.loads(request["body"])
    assert payload["event"] == "deployment.created"
    assert payload["organization"] == "acme"
    assert payload["data"]["id"] == str(deployment.public_id)
    assert payload["data"]["commit_sha"] == "abcdef1234567"
    assert request["headers"]["X-Release-Tracker-Delivery"] == payload["delivery_id"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200


@pytest.mark.django_db
def test_each_event_fires_once_per_matching_endpoint(org, receiver, allow_local):
    everything = endpoint_create(
        organization=org,
        url=receiver.url + "/all",
        events=["deployment.created", "deployment.status_changed", "deployment.failed"],
    )
    failures_only = endpoint_create(organization=org, url=receiver.url + "/failures", events=["deployment.failed"])
    deployment, _ = deployment_record(
        organization=org, environment="production", commit_sha="abcdef1234567", status="in_progress"
    )
    deployment_change_status(organization=org, deployment=deployment, status="failure")
    while deliver_due():
        pass

    by_path = {}
    for request in receiver.requests:
        by_path.setdefault(request["path"], []).append(request["headers"]["X-Release-Tracker-Event"])
    assert sorted(by_path["/hook/all"]) == ["deployment.created", "deployment.failed", "deployment.status_changed"]
    assert by_path["/hook/failures"] == ["deployment.failed"]
    assert WebhookDelivery.objects.filter(endpoint=everything).count() == 3
    assert WebhookDelivery.objects.filter(endpoint=failures_only).count() == 1
    status_changed = next(
        json.loads(r["body"]) for r in receiver.requests if r["headers"]["X-Release-Tracker-Event"].endswith("changed")
    )
    assert status_changed["data"]["previous_status"] == "in_progress"
    assert status_changed["data"]["status"] == "failure"


@pytest.mark.django_db
def test_environment_and_project_filters_apply(org, receiver, allow_local):
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567", project="api")
    endpoint_create(
        organization=org, url=receiver.url, events=["deployment.created"], environment="production", project="api"
    )
    deployment_record(organization=org, environment="staging", commit_sha="abcdef1234568", project="api")
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234569", project="web")
    deployment_record(organization=org, environment="production", commit_sha="abcdef123456a", project="api")
    while deliver_due():
        pass
    assert [json.loads(r["body"])["data"]["commit_sha"] for r in receiver.requests] == ["abcdef123456a"]


@pytest.mark.django_db
def test_a_500_is_retried_later_with_backoff(org, receiver, allow_local):
    receiver.statuses = [500]
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    now = timezone.now()
    assert deliver_due(now=now) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_response == "answer 500"
    # base 10 s with up to 25 % jitter
    assert now + timedelta(seconds=10) <= delivery.next_attempt_at <= now + timedelta(seconds=12.5)
    assert deliver_due(now=now + timedelta(seconds=5)) == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1
    assert deliver_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    second_wait = delivery.next_attempt_at - now
    assert second_wait >= timedelta(seconds=10)


@pytest.mark.django_db
def test_a_timeout_counts_as_a_failed_attempt(org, receiver, allow_local):
    allow_local.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.block = True
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    assert deliver_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending"
    assert delivery.last_status_code is None
    assert "timed out" in delivery.last_response


@pytest.mark.django_db
def test_the_delivery_is_marked_failed_after_the_attempt_limit(org, receiver, allow_local):
    allow_local.WEBHOOKS_MAX_ATTEMPTS = 3
    receiver.statuses = [503, 503, 503, 503]
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    now = timezone.now()
    for _ in range(5):
        deliver_due(now=now)
        now += timedelta(hours=2)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_redirects_are_not_followed(org, receiver, allow_local):
    receiver.statuses = [302]
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    deliver_due()
    assert [r["path"] for r in receiver.requests] == ["/hook"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status_code) == ("pending", 302)


@pytest.mark.django_db
def test_nothing_is_queued_or_sent_for_a_rolled_back_transaction(org, receiver, allow_local):
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    with pytest.raises(RuntimeError), transaction.atomic():
        deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
        raise RuntimeError("the caller failed after recording")
    assert WebhookDelivery.objects.count() == 0
    assert deliver_due() == 0
    assert receiver.requests == []


@pytest.mark.django_db
def test_build_requested_fires_per_project_of_a_new_release_only(org, receiver, allow_local):
    endpoint_create(organization=org, url=receiver.url, events=["release.build_requested"])
    release_create(organization=org, version="2.0.0-rc1", projects=["api", "web"], request_build=True)
    release_create(organization=org, version="2.0.0-rc1", projects=["api", "web"], request_build=True)  # a repeat
    release_create(organization=org, version="2.0.1", projects=["api"])  # no build asked
    while deliver_due():
        pass
    projects = sorted(json.loads(r["body"])["data"]["project"] for r in receiver.requests)
    assert projects == ["api", "web"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
    ],
)
@pytest.mark.django_db
def test_private_and_non_http_targets_are_refused(api, url):
    response = api.post("/api/v1/webhooks/", {"url": url, "events": ["deployment.failed"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("url: ")


@pytest.mark.django_db
def test_a_target_allowed_once_is_checked_again_before_sending(org, receiver, allow_local):
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    allow_local.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    assert deliver_due() == 1
    assert receiver.requests == []
    assert "refused" in WebhookDelivery.objects.get().last_response


@pytest.mark.django_db
def test_the_api_shows_the_secret_once_and_needs_the_write_scope(api, read_api, other_api, allow_local):
    created = api.post(
        "/api/v1/webhooks/", {"url": "https://hooks.example.com/rt", "events": ["deployment.failed"]}, format="json"
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert len(secret) == 64
    detail = api.get(created["Location"])
    assert detail.status_code == 200
    assert "secret" not in detail.json()
    assert detail.json()["secret_hint"] == "…" + secret[-4:]
    assert read_api.get("/api/v1/webhooks/").status_code == 403
    assert other_api.get(created["Location"]).status_code == 404
    assert other_api.get("/api/v1/webhooks/").json()["results"] == []
    bad = api.post("/api/v1/webhooks/", {"url": "https://x.example.com", "events": ["nope"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"].startswith("events.0: ")


@pytest.mark.django_db
def test_redeliver_queues_a_failed_delivery_again(api, org, receiver, allow_local):
    allow_local.WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.statuses = [500]
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    url = f"/api/v1/webhooks/{endpoint.public_id}/deliveries/{delivery.public_id}/redeliver/"
    response = api.post(url)
    assert response.status_code == 202 and response.json()["state"] == "pending"
    deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == "delivered"
    listed = api.get(f"/api/v1/webhooks/{endpoint.public_id}/deliveries/").json()
    assert [d["state"] for d in listed["results"]] == ["delivered"]


@pytest.mark.django_db
def test_native_deployment_api_emits_events(api, org, receiver, allow_local):
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created", "deployment.status_changed"])
    created = api.post(
        "/api/v1/deployments/",
        {"environment": "production", "commit_sha": "abcdef1234567", "status": "in_progress"},
        format="json",
    )
    assert created.status_code == 201
    assert api.patch(created["Location"], {"status": "success"}, format="json").status_code == 200
    while deliver_due():
        pass
    assert events_received(receiver) == ["deployment.created", "deployment.status_changed"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_deliver_each_delivery_once(receiver, allow_local):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory(slug="racers")
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    for i in range(30):
        deployment_record(organization=org, environment="production", commit_sha=f"{i:07x}abcdef")
    start = threading.Barrier(2)
    errors = []

    def worker():
        try:
            start.wait(5)
            while deliver_due(limit=3):
                pass
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = [r["headers"]["X-Release-Tracker-Delivery"] for r in receiver.requests]
    assert len(ids) == 30
    assert len(set(ids)) == 30
    assert WebhookDelivery.objects.filter(state="delivered", attempts=1).count() == 30


def test_the_worker_stops_cleanly_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_webhooks", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "deliver_webhooks: started"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped after 0 attempt(s)" in out


@pytest.mark.django_db
def test_deliver_webhooks_once_sends_what_is_due(org, receiver, allow_local):
    from io import StringIO

    from django.core.management import call_command

    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    out = StringIO()
    call_command("deliver_webhooks", "--once", stdout=out)
    assert "stopped after 1 attempt(s)" in out.getvalue()
    assert events_received(receiver) == ["deployment.created"]


@pytest.mark.django_db
def test_webhooks_of_one_organization_never_see_another(org, other_org, receiver, allow_local):
    endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
    deployment_record(organization=other_org, environment="production", commit_sha="abcdef1234567")
    assert deliver_due() == 0
    assert receiver.requests == []


@pytest.mark.django_db
def test_aviator_triggers_build_and_deployment_workflows_but_not_on_status_patch(api, org, receiver, allow_local):
    from deployments.services import environment_get_or_create

    environment_get_or_create(organization=org, name="production")
    endpoint_create(
        organization=org,
        url=receiver.url,
        events=["release.build_requested", "deployment.requested", "deployment.status_changed"],
    )
    rc = api.post(
        "/api/releases/payments/releases/2.1.0-rc1",
        {"repo": "acme/payments", "commit": "abcdef1234567", "trigger_build_workflow": True},
        format="json",
    )
    assert rc.status_code == 201, rc.content
    created = api.post(
        "/api/releases/payments/environments/production/deployments",
        {"release_candidate_version": "2.1.0-rc1"},
        format="json",
    )
    assert created.status_code == 201, created.content
    patched = api.patch(
        "/api/releases/payments/environments/production/deployments",
        {"release_candidate_version": "2.1.0-rc1", "status": "success"},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    while deliver_due():
        pass
    assert events_received(receiver) == [
        "release.build_requested",
        "deployment.requested",
        "deployment.status_changed",
    ]
    # The candidate is the release payments@2.1.0-rc1 (unique per project), named 2.1.0-rc1.
    build = json.loads(receiver.requests[0]["body"])["data"]
    assert (build["version"], build["name"], build["project"]) == ("payments@2.1.0-rc1", "2.1.0-rc1", "payments")
    requested = json.loads(receiver.requests[1]["body"])["data"]
    assert (requested["environment"], requested["release"], requested["status"]) == (
        "production",
        "payments@2.1.0-rc1",
        "pending",
    )


@pytest.mark.django_db
def test_native_api_can_request_a_build_and_a_deployment_workflow(api, org, receiver, allow_local):
    endpoint_create(organization=org, url=receiver.url, events=["release.build_requested", "deployment.requested"])
    release = api.post(
        "/api/v1/releases/", {"version": "3.0.0", "projects": ["api"], "trigger_build_workflow": True}, format="json"
    )
    assert release.status_code == 201, release.content
    deployment = api.post(
        "/api/v1/deployments/",
        {"environment": "production", "release": "3.0.0", "status": "queued", "trigger_workflow": True},
        format="json",
    )
    assert deployment.status_code == 201, deployment.content
    plain = api.post("/api/v1/deployments/", {"environment": "staging", "release": "3.0.0"}, format="json")
    assert plain.status_code == 201
    while deliver_due():
        pass
    assert events_received(receiver) == ["release.build_requested", "deployment.requested"]
