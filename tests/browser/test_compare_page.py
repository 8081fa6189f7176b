"""End to end in Chromium: from a release to what it brings over the previous one, then what
staging holds that production does not, at desktop and phone widths."""

import re
from datetime import timedelta

import pytest

from deployments.services import deployment_record
from releases.services import CommitInput, release_create
from tests.factories import MembershipFactory, UserFactory
from tests.releases.compare_scenario import T0, build, sha

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_VERSION = "0123456789abcdef0123456789abcdef01234567"  # a 40-character sha as a version


@pytest.fixture
def acme(transactional_db):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory(slug="acme", name="Acme")
    MembershipFactory(user=UserFactory(username="alice"), organization=org, role="admin")
    build(org)
    long, _ = release_create(
        organization=org,
        version=LONG_VERSION,
        projects=["web"],
        commits=[
            CommitInput(
                sha=f"{n:040x}",
                repository="acme/web",
                message="A long message without spaces: " + "x" * 120,
                author_name="Ingrid Longname-Svensdottir-Rasmussen",
                pr_number=1000 + n,
            )
            for n in range(20, 24)
        ],
        created_at=T0 + timedelta(hours=80),
    )
    deployment_record(
        organization=org, environment="staging", release=long, project="web", finished_at=T0 + timedelta(hours=81)
    )
    return org


def sign_in(page):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/orgs/acme/"))


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def commit_rows(page) -> list[str]:
    return page.locator("table.table--stack tbody tr td[data-label='Commit'] code").all_inner_texts()


@pytest.mark.parametrize("width", [1440, 390])
def test_a_person_compares_a_release_with_the_previous_one_then_staging_with_production(page, acme, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page)
    page.goto("/orgs/acme/releases/1.2.0/")
    page.get_by_role("link", name=re.compile("Compare with the previous release")).click()
    page.wait_for_url(re.compile(r"/orgs/acme/compare/\?base=1\.1\.0&head=1\.2\.0"))
    assert commit_rows(page) == [sha(5)[:7]]
    assert page.get_by_role("link", name="#45").get_attribute("href") == "https://github.com/acme/web/pull/45"

    # What staging holds that production does not, chosen in the form.
    page.get_by_label("Base version").fill("")
    page.get_by_label("Head version").fill("")
    page.locator("#id_base_environment").select_option("production")
    page.locator("#id_head_environment").select_option("staging")
    page.get_by_label("Project").select_option("web")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"base_environment=production"))
    assert "Live in staging: " + LONG_VERSION in page.locator("#summary").inner_text()
    # 1.0.0 is live in production: staging's release brings commits 3 to 6 and its own four.
    assert len(commit_rows(page)) == 8
    assert "12 commits" not in page.locator("#summary").inner_text()
    assert "8 commits" in page.locator("#summary").inner_text()
    assert overflow(page) <= 0, f"the compare page is {overflow(page)}px wider than a {width}px screen"

    page.goto(f"/orgs/acme/releases/{LONG_VERSION}/")
    assert overflow(page) <= 0, f"the release page is {overflow(page)}px wider than a {width}px screen"
    assert page.console_errors == [] and page.foreign_requests == []


def test_an_unknown_version_is_shown_next_to_its_field(page, acme):
    sign_in(page)
    page.goto("/orgs/acme/compare/?base=1.0.0&head=9.9.9")
    assert page.locator("#id_head-error").inner_text() == "no release '9.9.9'"
    assert page.get_by_label("Head version").input_value() == "9.9.9"
