"""The lead-time statements read the window's rows of their scope only, however long the
organization's history (PostgreSQL).

The planner picks its indexes from estimates that other organizations' rows can make wrong by a
hundred times; the counts must still read only the commits first deployed in the window (the rows
``FirstDeployment`` keeps for the scope), and the percentiles only the window's rows of the bin
they need, not the commits deployed before it (which here have the same lead time, so the same bin).
"""

from datetime import timedelta

import pytest
from django.db import connection

from deployments.first_deployments import first_deployments_fill
from deployments.models import Deployment, FirstDeployment
from deployments.services import environment_get_or_create
from metrics import queries
from releases.models import Commit, Release, ReleaseCommit
from releasetracker.services import organization_create
from tests.metrics.scenario import SINCE, UNTIL, at, deploy, release, sha
from tests.plans import explain_analyze, rows_read

pytestmark = pytest.mark.django_db

HISTORY = 300
NEIGHBOUR = 100 * HISTORY
OLD_COMMITS = 100
NEIGHBOUR_COMMITS = 3000


@pytest.fixture
def long_history_and_a_busy_neighbour(org):
    if connection.vendor != "postgresql":
        pytest.skip("the plans checked here are PostgreSQL's")
    production = environment_get_or_create(organization=org, name="production")
    # Committed 12 hours before their first deployment, as the commits in the window: the same bin.
    old = release(org, "old", {900 + k: SINCE - timedelta(hours=HISTORY + 12) for k in range(OLD_COMMITS)})
    # Years of deployments of one release of 100 commits before the window...
    Deployment.objects.bulk_create(
        Deployment(
            organization=org,
            environment=production,
            release=old,
            status="success",
            occurred_at=SINCE - timedelta(hours=h),
        )
        for h in range(1, HISTORY + 1)
    )
    # ...another organization's many deployments inside it, which make "before the window" look rare,
    # and its thousands of commits first deployed there (so reading the whole table costs more than
    # the index: with a few hundred rows the planner may rightly read them all)...
    busy = organization_create(slug="busy", name="Busy")
    busy_env = environment_get_or_create(organization=busy, name="production")
    Deployment.objects.bulk_create(
        Deployment(organization=busy, environment=busy_env, status="success", occurred_at=at(0) + timedelta(seconds=s))
        for s in range(NEIGHBOUR)
    )
    busy_release = release(busy, "busy-1", {})
    numbers = range(50_000, 50_000 + NEIGHBOUR_COMMITS)
    commits = Commit.objects.bulk_create(Commit(organization=busy, sha=sha(n)) for n in numbers)
    ReleaseCommit.objects.bulk_create(
        ReleaseCommit(organization=busy, release=busy_release, commit=commit, position=k)
        for k, commit in enumerate(commits)
    )
    Deployment.objects.create(
        organization=busy, environment=busy_env, release=busy_release, status="success", occurred_at=at(0, 1)
    )
    # ...and five releases of three commits each deployed in the window.
    for number in range(5):
        release(org, f"1.{number}", {3 * number + k: at(number) for k in range(1, 4)})
        deploy(org, f"1.{number}", at(number, 12))
    # The rows bypassed the services (bulk_create): their first deployments are computed once here.
    first_deployments_fill()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deployments_deployment")
        cursor.execute("ANALYZE deployments_firstdeployment")
    return production


def test_lead_time_reads_only_the_commits_first_deployed_in_the_window(org, long_history_and_a_busy_neighbour):
    scope = queries.Scope(
        organization_id=org.pk,
        environment_ids=[long_history_and_a_busy_neighbour.pk],
        project_id=None,
        since=SINCE,
        until=UNTIL,
        anchor=SINCE,
        bucket_seconds=7 * 86400,
    )
    counts = explain_analyze(*queries.lead_time_counts_sql(scope))
    (twelve_hours,) = set(
        FirstDeployment.objects.filter(organization=org, environment_key=FirstDeployment.ALL).values_list(
            "lead_bin", flat=True
        )
    )
    # The whole window's 8th value, and week 0's 2nd.
    ranks = [queries.LeadRank(queries.TOTAL, twelve_hours, 7), queries.LeadRank(0, twelve_hours, 1)]
    values = explain_analyze(*queries.lead_time_values_sql(scope, ranks))

    assert Release.objects.filter(organization=org).count() == 6
    assert FirstDeployment.objects.filter(organization=org, occurred_at__lt=SINCE).count() >= OLD_COMMITS
    total = queries.lead_times(scope)[queries.TOTAL]
    assert (total["commits"], total["lead_median"]) == (15, 12 * 3600.0)
    # The 15 commits first deployed in the window: not the 100 deployed before it, nor the history.
    assert rows_read(counts, "f") == 15
    # Each rank reads the window's rows of its bin (all 15 here: one bin, one week), not the old ones.
    # (PostgreSQL names the second scan of f "f_1".)
    assert rows_read(values, "f") + rows_read(values, "f_1") == 2 * 15
