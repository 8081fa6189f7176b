"""In Chromium: the environments matrix at desktop and phone widths, and a failed deployment's way to
what restored it."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.test_e2e import sign_in
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.pages.conftest import deploy, make_release

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "payments-reconciliation-service-with-a-very-long-name"


@pytest.fixture
def acme(transactional_db):
    org = OrganizationFactory(slug="acme", name="Acme")
    MembershipFactory(user=UserFactory(username="alice"), organization=org, role="admin")
    now = timezone.now().replace(microsecond=0)
    old = make_release(org, "api@1.4.0", at=now - timedelta(days=3), projects=("api",))
    new = make_release(org, "api@1.5.0", at=now - timedelta(days=2), projects=("api",))
    deploy(org, old, "production", at=now - timedelta(days=3) + timedelta(hours=1), project="api")
    deploy(org, new, "staging", at=now - timedelta(days=2) + timedelta(hours=1), project="api")
    # 1.5.0 reached production and 1.4.0 was put back: a rollback the tracker detects itself.
    deploy(org, new, "production", at=now - timedelta(hours=20), project="api")
    deploy(org, old, "production", at=now - timedelta(hours=19), project="api")
    long = make_release(org, "f" * 40, at=now - timedelta(days=1), projects=(LONG,))
    for environment in ("production", "staging", "qa-eu-west-long-environment-name", "dev", "preview"):
        deploy(org, long, environment, at=now - timedelta(hours=5), project=LONG)
    return org


@pytest.mark.parametrize("width", [1440, 390])
def test_the_matrix_shows_what_is_live_where_without_sideways_scrolling(page, acme, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.get_by_role("link", name="Environments").click()
    page.wait_for_selector("h1:has-text('What is live where')")

    row = page.locator("tr", has=page.locator("th", has_text=re.compile(r"^api$")))
    production = row.locator("td[data-env='production']")
    assert "api@1.4.0" in production.inner_text()
    assert "1 release behind" in production.inner_text()
    assert "newest" in row.locator("td[data-env='staging']").inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the matrix is {overflow}px wider than a {width}px screen"
    if width == 390:
        # On a phone each cell names its environment itself (the header row is hidden).
        label = production.evaluate("cell => getComputedStyle(cell, '::before').content")
        assert label == '"production"'
    assert page.console_errors == [] and page.foreign_requests == []


def test_a_failed_deployment_leads_to_what_restored_it(page, acme):
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.goto("/orgs/acme/deployments/?environment=production&project=api")
    failed = page.locator("tr", has_text="failed change")
    assert "✕ failed change · restored by automatic rollback of api@1.4.0 after 1 h" in " ".join(
        failed.inner_text().split()
    )

    failed.get_by_role("link", name=re.compile("automatic rollback")).click()
    page.wait_for_selector("h1:has-text('api@1.4.0')")
    assert re.search(r"#deployment-[0-9a-f-]+$", page.url)
    target = page.locator(page.url[page.url.index("#") :])
    assert "automatic rollback" in target.inner_text().lower()
    assert page.console_errors == [] and page.foreign_requests == []
