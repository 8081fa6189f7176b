"""A sha deployed without a release still has a lead time once it reaches production later."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.services import deployment_record
from metrics.selectors import dora_metrics
from releases.models import Commit
from releases.services import CommitInput, release_create

pytestmark = pytest.mark.django_db


def window():
    now = timezone.now()
    return {"since": now - timedelta(days=1), "until": now + timedelta(minutes=1)}


def test_a_bare_sha_seen_in_staging_first_gets_a_lead_time_in_production(org):
    deployment_record(organization=org, environment="staging", commit_sha="abcdef1234567")
    commit = Commit.objects.get(organization=org, sha="abcdef1234567")
    assert commit.timestamp is None  # unknown: lead time starts when the tracker first saw it
    production, _ = deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")

    lead = dora_metrics(organization=org, **window())["lead_time"]
    assert lead["commits"] == 1
    expected = (production.occurred_at - commit.created_at).total_seconds()
    assert expected > 0
    assert lead["median_seconds"] == pytest.approx(expected, abs=0.01)


def test_a_sha_abbreviating_a_known_commit_adds_no_commit(org):
    release_create(
        organization=org,
        version="1.0.0",
        commits=[CommitInput(sha="abcdef1234567890abcdef1234567890abcdef12")],
    )
    deployment_record(organization=org, environment="staging", commit_sha="abcdef1234567890abcdef1234567890abcdef12")
    deployment_record(organization=org, environment="staging", commit_sha="fedcba9")
    deployment_record(organization=org, environment="staging", commit_sha="fedcba9")
    assert sorted(Commit.objects.filter(organization=org).values_list("sha", flat=True)) == [
        "abcdef1234567890abcdef1234567890abcdef12",
        "fedcba9",
    ]


def test_a_bare_sha_first_seen_in_production_has_no_lead_time(org):
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    metrics = dora_metrics(organization=org, **window())
    assert metrics["deployment_frequency"]["count"] == 1
    assert metrics["lead_time"]["commits"] == 0
    assert metrics["lead_time"]["median_seconds"] is None
