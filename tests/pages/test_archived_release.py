"""An archived release (``sentry-cli releases archive``) stays in the pages, marked as archived."""

import pytest

from releases.services import release_update

pytestmark = pytest.mark.django_db


def test_the_timeline_keeps_an_archived_release_and_marks_it(alice_client, org, history):
    release_update(organization=org, release=history["r2"], archived=True)

    body = alice_client.get("/orgs/acme/releases/").content.decode()

    assert "1.1.0" in body and "1.0.0" in body
    assert body.count(">archived</span>") == 1


def test_the_release_page_says_when_it_was_archived_and_that_the_metrics_still_count_it(alice_client, org, history):
    release_update(organization=org, release=history["r2"], archived=True)

    body = alice_client.get("/orgs/acme/releases/1.1.0/").content.decode()

    assert ">Archived</span>" in body and "<dt>Archived</dt>" in body
    assert "its deployments still count in the metrics" in body
    assert "<dt>Archived</dt>" not in alice_client.get("/orgs/acme/releases/1.0.0/").content.decode()
