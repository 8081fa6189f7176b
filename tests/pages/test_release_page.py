from datetime import timedelta

import pytest

from deployments.models import DeploymentStatus
from releases.models import Release
from tests.pages.conftest import T0, deploy, make_release

pytestmark = pytest.mark.django_db


def test_release_page_opens_by_public_id_and_by_version(alice_client, history):
    release = history["r2"]
    by_id = alice_client.get(f"/orgs/acme/releases/{release.public_id}/")
    by_version = alice_client.get("/orgs/acme/releases/1.1.0/")
    assert by_id.status_code == by_version.status_code == 200
    assert by_id.context["release"].pk == by_version.context["release"].pk == release.pk


def test_release_page_shows_facts_commits_and_links_to_the_repository(alice_client, history):
    body = alice_client.get("/orgs/acme/releases/1.1.0/").content.decode()
    assert 'Commits <span class="muted">(3)</span>' in body
    assert "Change 0 of 1.1.0" in body and "Alice Martin" in body
    sha = history["r2"].commits.order_by("message").first().sha
    assert f'href="https://github.com/acme/api/commit/{sha}"' in body
    assert f"<code>{sha[:7]}</code>" in body
    assert "Native API" in body and "token ci (rt_abc)" in body


def test_release_page_groups_deployments_by_environment_with_history_and_durations(alice_client, history):
    response = alice_client.get("/orgs/acme/releases/1.1.0/")
    groups = response.context["environment_groups"]
    assert [group["environment"].name for group in groups] == ["production", "staging"]
    failed = groups[0]["deployments"][0]
    assert [change.status for change in failed.history] == [DeploymentStatus.IN_PROGRESS, DeploymentStatus.FAILURE]
    # in progress from 03:25 (started) to 03:45 (failed): the status lasted 20 minutes
    assert failed.history[0].lasted == 20 * 60
    body = response.content.decode()
    assert "took 20 min" in body and "20 min" in body
    assert "Status history (2)" in body


def test_a_release_of_another_organization_or_unknown_is_404(alice_client, charlie_client, history):
    assert alice_client.get("/orgs/acme/releases/9.9.9/").status_code == 404
    assert charlie_client.get(f"/orgs/acme/releases/{history['r1'].public_id}/").status_code == 404
    assert charlie_client.get(f"/orgs/globex/releases/{history['r1'].public_id}/").status_code == 404
    assert charlie_client.get("/orgs/globex/releases/1.0.0/").status_code == 404


def test_unsafe_urls_are_not_rendered_as_links(alice_client, org):
    # Every service refuses such a URL now; a row stored before that rule still must not link.
    make_release(org, "4.0.0", at=T0)
    Release.objects.filter(organization=org, version="4.0.0").update(url="javascript:alert(1)")
    body = alice_client.get("/orgs/acme/releases/4.0.0/").content.decode()
    assert 'href="javascript:' not in body


def test_hostile_commit_messages_and_titles_are_escaped(alice_client, org):
    release = make_release(org, "5.0.0", at=T0)
    deploy(org, release, "production", at=T0, title="<script>alert('t')</script>")
    body = alice_client.get("/orgs/acme/releases/5.0.0/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in body


@pytest.mark.parametrize("count", [2, 40])
def test_release_page_query_count_does_not_grow_with_commits_or_deployments(
    alice_client, org, django_assert_max_num_queries, count
):
    release = make_release(org, "6.0.0", at=T0, commits=count)
    for i in range(count):
        # Failures among them: each failed change is shown with what restored it.
        deploy(org, release, "production" if i % 2 else "staging", at=T0, status="failure" if i % 4 == 1 else "success")
    make_release(org, "5.9.0", at=T0 - timedelta(hours=1))  # a previous release to compare with
    with django_assert_max_num_queries(14):
        response = alice_client.get("/orgs/acme/releases/6.0.0/")
    assert len(response.context["commits"]) == count


def test_commits_are_listed_newest_first_whatever_order_they_were_sent_in(alice_client, org):
    from datetime import UTC, datetime

    from releases.services import CommitInput, release_create

    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    release, _ = release_create(
        organization=org,
        version="7.0.0",
        commits=[
            CommitInput(sha="a" * 40, message="commit middle", timestamp=at - timedelta(hours=2)),
            CommitInput(sha="b" * 40, message="commit no time"),
            CommitInput(sha="c" * 40, message="commit newest", timestamp=at),
            CommitInput(sha="d" * 40, message="commit oldest", timestamp=at - timedelta(days=1)),
        ],
    )
    body = alice_client.get(f"/orgs/acme/releases/{release.public_id}/").content.decode()
    order = ("commit newest", "commit middle", "commit oldest", "commit no time")
    positions = [body.index(message) for message in order]
    assert positions == sorted(positions)


def test_the_heading_shows_where_the_release_is_deployed_not_a_pending_badge(alice_client, history):
    body = alice_client.get("/orgs/acme/releases/1.0.0/").content.decode()
    heading = body[body.index("<h1") : body.index("</h1>")]
    assert "Deployed to production" in heading and "Pending" not in heading
    assert "Release status" in body
    undeployed = alice_client.get("/orgs/acme/releases/1.2.0/").content.decode()
    assert "in staging" in undeployed[undeployed.index("<h1") : undeployed.index("</h1>")]
