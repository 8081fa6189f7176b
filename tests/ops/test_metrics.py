"""/metrics in process: who may read it, and what moves when (tests/ops/test_servers.py: several workers)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from deployments.models import Deployment
from releasetracker.settings import env_networks
from tests.factories import DeploymentFactory, EnvironmentFactory
from tests.ops.servers import metric_values
from webhooks.models import WebhookDelivery, WebhookEndpoint

TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def scraper(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape(name: str) -> dict[str, float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        return metric_values(response.content.decode(), name)

    return scrape


@pytest.mark.django_db
def test_it_refuses_everyone_when_neither_a_token_nor_addresses_are_set(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 403
    assert response.json() == {
        "error": "metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS",
        "code": "permission_denied",
    }


@pytest.mark.django_db
def test_it_asks_for_the_token_without_it_or_with_a_wrong_one(client, settings):
    settings.METRICS_TOKEN = TOKEN
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Token {TOKEN}"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"releasetracker_" not in response.content


@pytest.mark.django_db
def test_it_serves_the_text_format_with_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE releasetracker_http_requests_total counter" in response.content


@pytest.mark.django_db
def test_it_serves_allowed_addresses_and_networks_without_a_token(client, settings, monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8, 192.0.2.7, fd00::/8")
    settings.METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")
    settings.METRICS_TOKEN = TOKEN
    for address in ("10.20.30.40", "192.0.2.7", "fd00::1"):
        assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 401
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.8")
    assert response.status_code == 403
    assert response.json()["error"] == "this address is not in METRICS_ALLOWED_IPS"


def test_an_address_that_is_not_one_stops_start_up(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8,10.0.0.300")
    with pytest.raises(ImproperlyConfigured, match=r"METRICS_ALLOWED_IPS: '10.0.0.300' is not an IP address"):
        env_networks("METRICS_ALLOWED_IPS")


@pytest.mark.django_db
def test_requests_are_counted_by_route_template_method_and_status(api, scraper):
    before = scraper("releasetracker_http_requests_total")
    api.get("/api/v1/deployments/")
    api.get("/api/v1/releases/9.9.9/")
    api.get("/no-such-page/")
    after = scraper("releasetracker_http_requests_total")

    def moved(labels: str) -> float:
        return after.get(labels, 0) - before.get(labels, 0)

    assert moved('{method="GET",route="api/v1/deployments/",status="200"}') == 1
    assert moved('{method="GET",route="api/v1/releases/<id>/",status="404"}') == 1
    assert moved('{method="GET",route="unmatched",status="404"}') == 1
    durations = scraper("releasetracker_http_request_duration_seconds_count")
    assert durations['{method="GET",route="api/v1/deployments/"}'] >= 1


@pytest.mark.django_db(transaction=True)
def test_a_release_posted_to_the_api_is_counted_by_source_and_status(api, scraper):
    before = scraper("releasetracker_releases_recorded_total").get('{source="api",status="pending"}', 0)
    assert api.post("/api/v1/releases/", {"version": "2.0.0"}, format="json").status_code == 201
    assert api.post("/api/v1/releases/", {"version": "2.0.0"}, format="json").status_code == 303  # the same one
    after = scraper("releasetracker_releases_recorded_total").get('{source="api",status="pending"}', 0)
    assert after - before == 1


@pytest.mark.django_db(transaction=True)
def test_a_deployment_is_counted_when_its_transaction_commits_and_not_when_it_rolls_back(org, scraper):
    labels = '{source="api",status="failure"}'
    environment = EnvironmentFactory(organization=org)
    before = scraper("releasetracker_deployments_recorded_total").get(labels, 0)
    with transaction.atomic():
        DeploymentFactory(organization=org, environment=environment, status="failure")
        assert scraper("releasetracker_deployments_recorded_total").get(labels, 0) == before  # not yet committed
    assert scraper("releasetracker_deployments_recorded_total").get(labels, 0) == before + 1

    with pytest.raises(RuntimeError), transaction.atomic():
        DeploymentFactory(organization=org, environment=environment, status="failure")
        raise RuntimeError("the request failed after the insert")
    assert scraper("releasetracker_deployments_recorded_total").get(labels, 0) == before + 1

    deployment = Deployment.objects.get()
    deployment.title = "an update is not a new deployment"
    deployment.save()
    assert scraper("releasetracker_deployments_recorded_total").get(labels, 0) == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_deployment_posted_to_the_api_is_counted(api, scraper):
    labels = '{source="api",status="success"}'
    before = scraper("releasetracker_deployments_recorded_total").get(labels, 0)
    response = api.post("/api/v1/deployments/", {"environment": "production", "commit_sha": "b" * 40}, format="json")
    assert response.status_code == 201
    assert scraper("releasetracker_deployments_recorded_total").get(labels, 0) == before + 1


@pytest.mark.django_db
def test_the_webhook_backlog_is_read_at_scrape_time(org, scraper):
    endpoint = WebhookEndpoint.objects.create(organization=org, url="https://hooks.example.com/rt", events=[])
    now = timezone.now()
    for state, age_minutes, due_minutes in (("pending", 30, -20), ("pending", 5, 10), ("failed", 60, -50)):
        delivery = WebhookDelivery.objects.create(
            organization=org,
            endpoint=endpoint,
            event="deployment.created",
            payload={},
            state=state,
            next_attempt_at=now + timedelta(minutes=due_minutes),
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=now - timedelta(minutes=age_minutes))
    WebhookDelivery.objects.create(
        organization=org, endpoint=endpoint, event="deployment.created", payload={}, state="delivered"
    )

    assert scraper("releasetracker_webhook_deliveries") == {'{state="pending"}': 2.0, '{state="failed"}': 1.0}
    oldest = scraper("releasetracker_webhook_oldest_pending_age_seconds")[""]
    assert 30 * 60 <= oldest < 31 * 60
    overdue = scraper("releasetracker_webhook_overdue_seconds")[""]
    assert 20 * 60 <= overdue < 21 * 60


@pytest.mark.django_db
def test_an_empty_backlog_reads_zero(scraper):
    assert scraper("releasetracker_webhook_deliveries") == {'{state="pending"}': 0.0, '{state="failed"}': 0.0}
    assert scraper("releasetracker_webhook_oldest_pending_age_seconds") == {"": 0.0}
    assert scraper("releasetracker_webhook_overdue_seconds") == {"": 0.0}
