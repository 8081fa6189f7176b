"""In Chromium: the incidents page from the navigation, its filters, an incident next to its
deployment on the release page, and the incident settings, at desktop and phone widths."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.selectors import deployment_list
from incidents.services import incident_create
from tests.browser.test_e2e import acme, sign_in  # noqa: F401 - the shared organization fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def incidents(acme):  # noqa: F811 - the fixture imported above
    now = timezone.now().replace(microsecond=0)
    failed = deployment_list(organization=acme).get(release__version="api@1.5.0")
    incident_create(
        organization=acme,
        title="Checkout returns 500",
        severity="SEV1",
        started_at=now - timedelta(hours=20),
        resolved_at=now - timedelta(hours=19),
        deployment=failed,
    )
    incident_create(
        organization=acme, title="Staging queue stuck", started_at=now - timedelta(hours=2), environment="staging"
    )
    return acme


def test_a_person_finds_incidents_from_the_navigation_and_next_to_the_deployment(page, incidents):
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.get_by_role("link", name="Incidents", exact=True).click()
    page.wait_for_url(re.compile(r"/orgs/acme/incidents/$"))
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 2

    page.get_by_label("Status").select_option("resolved")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"status=resolved"))
    assert page.locator("table.table tbody tr").all_inner_texts()[0].count("Checkout returns 500") == 1

    page.get_by_role("link", name="api@1.5.0").click()
    page.wait_for_selector("h1:has-text('api@1.5.0')")
    linked = page.locator(".incident-list li")
    assert linked.count() == 1 and "restored in 1 h" in linked.inner_text()
    assert page.console_errors == [] and page.foreign_requests == []


def test_an_admin_makes_a_hook_secret_and_the_pages_fit_a_phone(page, incidents):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    for path in ("/orgs/acme/incidents/", "/orgs/acme/settings/incidents/", "/orgs/acme/releases/api@1.5.0/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"

    page.goto("/orgs/acme/settings/incidents/")
    page.locator("form", has=page.locator("input[value='generic']")).get_by_role("button").click()
    secret = page.locator("#new-secret")
    assert re.fullmatch(r"[0-9a-f]{64}", secret.inner_text())
    page.goto("/orgs/acme/settings/incidents/")
    assert page.locator("#new-secret").count() == 0
    assert page.console_errors == [] and page.foreign_requests == []
