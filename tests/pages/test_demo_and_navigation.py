import re

import pytest
from django.test import Client

from demo.data import DEMO_USERNAME, seed_demo
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_page_shows_the_demo_data(django_user_model):
    seed_demo(days=30)
    client = Client()
    client.force_login(django_user_model.objects.get(username=DEMO_USERNAME))
    timeline = client.get("/orgs/demo/releases/")
    assert timeline.status_code == 200 and len(timeline.context["releases"]) == 25
    # Releases are spread over the month, not all on the day the demo was seeded.
    assert timeline.content.decode().count('class="timeline__day"') > 5
    first = timeline.context["releases"][0]
    assert client.get(f"/orgs/demo/releases/{first.version}/").status_code == 200
    deployments = client.get("/orgs/demo/deployments/")
    assert {group["environment"].name for group in deployments.context["live"]} == {"production", "staging"}
    metrics = client.get("/orgs/demo/metrics/")
    assert metrics.status_code == 200
    assert metrics.context["tiles"][0].value != "—"
    assert client.get("/orgs/demo/settings/tokens/").status_code == 200


def test_an_organization_url_leads_to_its_timeline(alice_client, org):
    response = alice_client.get("/orgs/acme/")
    assert response.status_code == 302 and response["Location"] == "/orgs/acme/releases/"


def test_a_user_without_organization_is_told_what_to_do(db):
    client = Client()
    client.force_login(UserFactory(username="newcomer"))
    response = client.get("/")
    assert response.status_code == 200
    assert "You are not a member of any organization yet" in response.content.decode()


def test_an_unknown_organization_and_a_foreign_one_look_the_same(charlie_client, org):
    foreign = charlie_client.get("/orgs/acme/releases/")
    unknown = charlie_client.get("/orgs/nope/releases/")
    assert foreign.status_code == unknown.status_code == 404
    # The same page, apart from the (per-response masked) CSRF token of the sign-out form.
    masked = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert masked.sub(b"", foreign.content) == masked.sub(b"", unknown.content)


def test_superusers_are_not_special_in_pages(org):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get("/orgs/acme/releases/").status_code == 404
