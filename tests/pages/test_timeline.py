import re

import pytest

from tests.pages.conftest import T0, deploy, make_release

pytestmark = pytest.mark.django_db


def versions(response) -> list[str]:
    return re.findall(r'class="release-row__version"[^>]*>([^<]+)<', response.content.decode())


def test_it_sends_anonymous_visitors_to_the_sign_in_page(client, org):
    response = client.get("/orgs/acme/releases/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/orgs/acme/releases/")


def test_home_redirects_to_the_only_organization(alice_client, org):
    response = alice_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/releases/"


def test_home_lists_organizations_when_there_are_several(alice_client, alice, other_org):
    from tests.factories import MembershipFactory

    MembershipFactory(user=alice, organization=other_org)
    response = alice_client.get("/")
    assert response.status_code == 200
    assert "Acme" in response.content.decode() and "Globex" in response.content.decode()


def test_timeline_lists_releases_newest_first_grouped_by_day(alice_client, history):
    response = alice_client.get("/orgs/acme/releases/")
    assert response.status_code == 200
    assert versions(response) == ["1.2.0", "1.1.0", "1.0.0"]
    body = response.content.decode()
    assert body.count('class="timeline__day"') == 2
    assert "Tuesday, 3 March 2026" in body and "Monday, 2 March 2026" in body
    assert "3 commits" in body and "via Native API" in body


def test_timeline_chips_show_the_latest_status_per_environment_in_text(alice_client, history):
    body = alice_client.get("/orgs/acme/releases/").content.decode()
    row = body[body.index(">1.1.0<") : body.index(">1.0.0<")]
    # 1.1.0 failed in production and succeeded in staging: both chips say so in words.
    assert re.search(r"chip--failure.*production.*Failure", row, re.S)
    assert re.search(r"chip--success.*staging.*Success", row, re.S)
    newest = body[body.index(">1.2.0<") : body.index(">1.1.0<")]
    assert "In progress" in newest and "production" not in newest


def test_a_release_never_deployed_says_so(alice_client, org):
    make_release(org, "0.1.0", at=T0)
    assert "Not deployed" in alice_client.get("/orgs/acme/releases/").content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("project=web", ["1.2.0"]),
        ("project=api", ["1.1.0", "1.0.0"]),
        ("environment=production", ["1.1.0", "1.0.0"]),
        ("status=failure", ["1.1.0"]),
        ("status=in_progress", ["1.2.0"]),
        ("environment=production&status=success", ["1.0.0"]),
        ("environment=staging&status=success", ["1.1.0", "1.0.0"]),
        ("q=1.1", ["1.1.0"]),
        ("since=2026-03-03", ["1.2.0"]),
        ("until=2026-03-02", ["1.1.0", "1.0.0"]),
        ("since=2026-03-02&until=2026-03-02", ["1.1.0", "1.0.0"]),
    ],
)
def test_timeline_filters_from_the_query_string(alice_client, history, query, expected):
    response = alice_client.get(f"/orgs/acme/releases/?{query}")
    assert response.status_code == 200
    assert versions(response) == expected


def test_a_bad_filter_is_a_400_naming_the_field_not_a_crash(alice_client, history):
    response = alice_client.get("/orgs/acme/releases/?since=yesterday&project=nope&status=exploded")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a valid date." in body
    assert "Select a valid choice. nope is not one of the available choices." in body
    assert body.count("field--invalid") == 3


def test_a_reversed_date_range_is_refused_with_a_reason(alice_client, history):
    response = alice_client.get("/orgs/acme/releases/?since=2026-03-05&until=2026-03-01")
    assert response.status_code == 400
    assert "must be on or after the From date" in response.content.decode()


def test_filters_with_no_match_show_a_way_back(alice_client, history):
    body = alice_client.get("/orgs/acme/releases/?q=9.9").content.decode()
    assert "No release matches these filters" in body


def test_an_empty_organization_shows_the_curl_command_for_a_first_release(alice_client, org):
    body = alice_client.get("/orgs/acme/releases/").content.decode()
    assert "No releases yet" in body
    assert "curl -X POST http://testserver/api/v1/releases/" in body


def test_timeline_paginates_and_keeps_filters_in_page_links(alice_client, org):
    for i in range(12):
        make_release(org, f"2.{i}.0", at=T0)
    first = alice_client.get("/orgs/acme/releases/?project=api&per_page=10")
    assert len(versions(first)) == 10
    assert "Page 1 of 2" in first.content.decode()
    assert "?project=api&amp;per_page=10&amp;page=2" in first.content.decode()
    second = alice_client.get("/orgs/acme/releases/?project=api&per_page=10&page=2")
    assert len(versions(second)) == 2
    assert alice_client.get("/orgs/acme/releases/?page=banana").status_code == 200


def test_a_long_history_is_counted_only_up_to_the_cap_and_older_releases_are_reached_by_date(
    alice_client, org, monkeypatch
):
    from releasetracker.page_helpers import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "cap", 20)
    for i in range(25):
        make_release(org, f"4.{i}.0", at=T0, commits=0)

    first = alice_client.get("/orgs/acme/releases/?per_page=10")
    body = first.content.decode()
    assert "Page 1 of 2+ · more than 20 in all" in body
    # Page numbers stop at the cap: a later page answers with the last counted one.
    beyond = alice_client.get("/orgs/acme/releases/?per_page=10&page=3")
    assert beyond.status_code == 200
    assert "Page 2 of 2+" in beyond.content.decode()
    # Under the cap the count is exact again, e.g. within a date range.
    exact = alice_client.get(f"/orgs/acme/releases/?per_page=10&since={T0.date().isoformat()}&q=4.1")
    assert "more than" not in exact.content.decode()


@pytest.mark.parametrize("per_page", [10, 50])
def test_timeline_query_count_does_not_grow_with_rows(alice_client, org, django_assert_max_num_queries, per_page):
    for i in range(per_page):
        release = make_release(org, f"3.{i}.0", at=T0, projects=("api", "web"), commits=2)
        deploy(org, release, "staging", at=T0)
        deploy(org, release, "production", at=T0)
    # session, user, membership, projects, environments, count, page, projects prefetch, chips
    with django_assert_max_num_queries(10):
        response = alice_client.get(f"/orgs/acme/releases/?per_page={per_page}")
    assert len(versions(response)) == per_page
    with django_assert_max_num_queries(10):
        alice_client.get(f"/orgs/acme/releases/?per_page={per_page}&environment=production&status=success")


def test_hostile_text_is_escaped(alice_client, org):
    release = make_release(org, "<script>alert(1)</script>", at=T0, projects=("<img src=x onerror=alert(2)>",))
    deploy(org, release, "<b>prod</b>", at=T0)
    body = alice_client.get("/orgs/acme/releases/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "<b>prod</b>" not in body
