"""Long names and shas at desktop and phone widths: nothing pushes the page sideways."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.test_e2e import sign_in
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, issue_token
from tests.pages.conftest import deploy, make_release

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHA_VERSION = "0123456789abcdef0123456789abcdef01234567"
LONG_PROJECT = "payments-settlement-reconciliation-service-eu-west-" * 2
LONG_ENVIRONMENT = "production-eu-west-1-blue-green-canary-cluster-" * 2


@pytest.fixture
def wide(transactional_db):
    org = OrganizationFactory(slug="acme", name="Acme")
    alice = UserFactory(username="alice")
    MembershipFactory(user=alice, organization=org, role="admin")
    now = timezone.now().replace(microsecond=0)
    release = make_release(org, SHA_VERSION, at=now - timedelta(days=1), projects=(LONG_PROJECT,))
    deploy(org, release, LONG_ENVIRONMENT, at=now - timedelta(hours=3))
    deploy(org, release, "production", at=now - timedelta(hours=2))
    issue_token(org, name="github-actions-deploy-token-for-the-payments-settlement-service-" * 2)
    return release


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def widest(page) -> str:
    """The element reaching furthest right, to name in a failure."""
    return page.evaluate(
        """() => { let best = null, right = 0;
        for (const el of document.body.querySelectorAll('*')) {
          const r = el.getBoundingClientRect();
          if (r.right > right) { right = r.right; best = el; }
        }
        return best ? best.tagName + '.' + best.className + ' right=' + Math.round(right) : ''; }"""
    )


def wide_tables(page) -> list[int]:
    """How far each table sticks out of its scrolling box (0 when it fits)."""
    return page.evaluate("[...document.querySelectorAll('.table-wrap')].map(w => w.scrollWidth - w.clientWidth)")


@pytest.mark.parametrize("width", [1440, 390])
def test_long_names_and_a_sha_version_fit_the_screen(page, wide, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    for path in (
        "/orgs/acme/releases/",
        f"/orgs/acme/releases/{wide.public_id}/",
        "/orgs/acme/deployments/",
        "/orgs/acme/settings/tokens/",
    ):
        page.goto(path)
        assert overflow(page) <= 0, f"{path} is {overflow(page)}px wider than a {width}px screen: {widest(page)}"
    page.goto("/orgs/acme/settings/tokens/")
    assert all(extra <= 0 for extra in wide_tables(page)), "the token table scrolls sideways"


def test_the_release_heading_says_where_it_is_deployed_and_names_production_once(page, wide):
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.goto(f"/orgs/acme/releases/{wide.public_id}/")
    assert page.locator("h1 .badge").first.inner_text() == "Deployed to production"
    headings = page.locator(".env-card h3").all_inner_texts()
    assert headings[0].strip() == "production"
