"""The organization's webhook settings page (organization admins only)."""

import pytest
from django.test import Client

from deployments.services import deployment_record
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import deliver_due, endpoint_create

URL = "/orgs/acme/settings/webhooks/"


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.mark.django_db
def test_an_admin_adds_a_webhook_and_sees_its_secret_once(alice_client):
    response = alice_client.post(
        URL,
        {"url": "https://ci.example.com/hooks/rt", "events": ["deployment.failed", "deployment.requested"]},
    )
    assert response.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["deployment.failed", "deployment.requested"]
    assert endpoint.secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    again = alice_client.get(URL)
    assert again.status_code == 200
    assert "https://ci.example.com/hooks/rt" in again.content.decode()
    assert endpoint.secret not in again.content.decode()


@pytest.mark.django_db
def test_a_private_target_is_refused_with_the_reason(alice_client):
    response = alice_client.post(URL, {"url": "http://169.254.169.254/latest", "events": ["deployment.failed"]})
    assert response.status_code == 400
    assert "must be a public address: 169.254.169.254 is in 169.254.0.0/16, link-local" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.django_db
def test_viewers_and_other_organizations_cannot_manage_webhooks(bob, charlie, org):
    endpoint_create(organization=org, url="https://ci.example.com/x", events=["deployment.failed"])
    viewer = Client()
    viewer.force_login(bob)
    assert viewer.get(URL).status_code == 403
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.get(URL).status_code == 404
    endpoint = WebhookEndpoint.objects.get()
    assert outsider.post(f"{URL}{endpoint.public_id}/delete/").status_code == 404
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_pause_delete_and_redeliver(alice_client, org, settings):
    settings.WEBHOOKS_MAX_ATTEMPTS = 1
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    # A closed port on this machine: the attempt fails at once and the delivery is marked failed.
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    page = alice_client.get(URL).content.decode()
    assert "Failed" in page and "Redeliver" in page

    redeliver = f"{URL}{endpoint.public_id}/deliveries/{delivery.public_id}/redeliver/"
    assert alice_client.post(redeliver).status_code == 302
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 0)

    assert alice_client.post(f"{URL}{endpoint.public_id}/toggle/").status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert alice_client.post(f"{URL}{endpoint.public_id}/delete/").status_code == 302
    assert WebhookEndpoint.objects.count() == 0
    assert alice_client.get(f"{URL}{endpoint.public_id}/delete/").status_code == 405


@pytest.mark.django_db
def test_the_page_query_count_does_not_grow_with_webhooks(alice_client, org, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert alice_client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    endpoint_create(organization=org, url="http://127.0.0.1:9/a", events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    few = count()
    for i in range(6):
        endpoint_create(organization=org, url=f"http://127.0.0.1:9/{i}", events=["deployment.created"])
    for i in range(8):
        deployment_record(organization=org, environment="production", commit_sha=f"abcdef12345{i:02x}")
    assert count() == few
