"""End to end in Chromium: sign in, timeline and its filters, a release, metrics charts, tokens."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import DeploymentStatus
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.pages.conftest import deploy, make_release

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(transactional_db):
    org = OrganizationFactory(slug="acme", name="Acme")
    alice = UserFactory(username="alice")
    MembershipFactory(user=alice, organization=org, role="admin")
    now = timezone.now().replace(microsecond=0)
    web = make_release(org, "web@2.0.0", at=now - timedelta(days=3), projects=("web",), commits=2)
    api = make_release(org, "api@1.4.0", at=now - timedelta(days=2), projects=("api",), commits=3)
    api_next = make_release(org, "api@1.5.0", at=now - timedelta(days=1), projects=("api",), commits=1)
    deploy(org, web, "staging", at=now - timedelta(days=3) + timedelta(hours=1))
    deploy(org, api, "staging", at=now - timedelta(days=2) + timedelta(hours=1))
    deploy(org, api, "production", at=now - timedelta(days=2) + timedelta(hours=2))
    deploy(org, api_next, "production", at=now - timedelta(hours=20), status=DeploymentStatus.FAILURE)
    deploy(org, api, "production", at=now - timedelta(hours=19))
    return org


def sign_in(page, username="alice", password="password"):  # noqa: S107 - the factory users' test password
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def versions(page) -> list[str]:
    return page.locator(".release-row__version").all_inner_texts()


def test_a_person_signs_in_filters_the_timeline_and_opens_a_release(page, acme):
    page.goto("/orgs/acme/releases/")
    assert "/accounts/login/" in page.url
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/$"))
    assert versions(page) == ["api@1.5.0", "api@1.4.0", "web@2.0.0"]
    row = page.locator(".release-row", has_text="api@1.5.0")
    assert "production: Failure" in " ".join(row.locator(".chip").all_inner_texts()).replace("\n", " ")

    page.get_by_label("Environment", exact=True).select_option("production")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"environment=production"))
    assert versions(page) == ["api@1.5.0", "api@1.4.0"]
    # Only the filters that were set go into the URL.
    assert page.url.split("?", 1)[1] == "environment=production"

    page.get_by_role("link", name="api@1.4.0").click()
    page.wait_for_selector("h1:has-text('api@1.4.0')")
    assert page.locator("table.table tbody tr").count() == 3
    assert page.locator(".env-card h3").all_inner_texts()[0].startswith("production")
    page.locator("details.history summary").first.click()
    assert page.locator("details.history[open] li").count() >= 1
    assert page.console_errors == [] and page.foreign_requests == []


def test_metrics_page_renders_tiles_and_svg_charts(page, acme):
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.get_by_role("link", name="Metrics").click()
    page.wait_for_selector("h1:has-text('DORA metrics')")
    assert page.locator(".tile").count() == 5
    assert page.locator("svg.chart__svg").count() == 4
    bars = page.locator("svg.chart__svg rect.chart__bar--deployments")
    assert bars.count() >= 1
    # The bars are drawn with a real size: the stylesheet and the SVG geometry both applied.
    heights = [box["height"] for box in (bars.nth(i).bounding_box() for i in range(bars.count())) if box]
    assert max(heights) > 10
    fill = bars.first.evaluate("element => getComputedStyle(element).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")
    # Without a query the window box shows the window the figures cover.
    assert page.get_by_label("Window").input_value() == "30"
    page.get_by_label("Environment", exact=True).select_option("staging")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"environment=staging"))
    assert page.locator(".tile").count() == 5
    assert "deployments to staging" in page.locator(".page-head").inner_text()
    # Axis labels stay readable: at least 10 px as drawn.
    label_px = page.locator(".chart__xlabel").first.bounding_box()["height"]
    assert label_px >= 10
    assert page.console_errors == [] and page.foreign_requests == []


def test_an_admin_creates_copies_and_revokes_a_token(page, acme):
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("github-actions")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("rt_") and len(token) > 30
    copy = page.get_by_role("button", name="Copy")
    assert copy.is_visible()  # the static script revealed it
    copy.click()
    page.wait_for_selector("button:has-text('Copied'), button:has-text('Press Ctrl+C')")

    page.goto("/orgs/acme/settings/tokens/")
    assert token not in page.content()  # shown once
    reload_after_create = page.locator("tr", has_text="github-actions").count()
    assert reload_after_create == 1  # the reload did not post the form again
    page.get_by_role("link", name="Revoke github-actions").click()
    page.get_by_role("button", name="Revoke token").click()
    page.wait_for_selector(".message--success")
    assert "is revoked" in page.locator(".messages").inner_text()
    assert page.locator("tr", has_text="github-actions").get_by_text("Revoked").is_visible()
    assert page.console_errors == [] and page.foreign_requests == []


def test_the_pages_are_keyboard_usable(page, acme):
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    # Tab onwards from the main content reaches the first filter field, then a release link.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") in ("INPUT", "SELECT")


def test_a_phone_sized_screen_needs_no_sideways_scrolling(page, acme):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page)
    page.wait_for_url(re.compile(r"/orgs/acme/releases/"))
    for path in ("/orgs/acme/releases/", "/orgs/acme/deployments/", "/orgs/acme/metrics/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
    page.goto("/orgs/acme/metrics/")
    # The charts are drawn at about half size on a phone; their labels are not.
    assert page.locator(".chart__xlabel").first.bounding_box()["height"] >= 10
