"""Failure to recovery: the failed changes a page shows and what restored them agree with the metrics."""

from datetime import timedelta
from statistics import median

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Deployment, Environment
from deployments.selectors import deployment_failed_change_ids, deployment_recoveries
from metrics.selectors import dora_metrics
from releases.models import Project
from tests.metrics.scenario import SINCE, UNTIL, at, build_worked_example, deploy, release
from tests.plans import explain_analyze

pytestmark = pytest.mark.django_db


def production(org) -> list[Deployment]:
    return list(
        Deployment.objects.filter(organization=org, environment__name="production")
        .select_related("release")
        .order_by("occurred_at", "id")
    )


def test_the_failed_changes_and_their_restore_times_are_the_metrics_own(org, other_org):
    build_worked_example(org, other_org)
    rows = [d for d in production(org) if SINCE <= d.occurred_at < UNTIL]

    recoveries = deployment_recoveries(organization=org, deployments=rows)

    by_version = {
        (d.release.version, d.status): (r.recovered_by.release.version if r.recovered_by else None, r.seconds)
        for d in rows
        if (r := recoveries.get(d.pk))
    }
    assert by_version == {
        ("1.1.0", "failure"): ("1.1.0", 3600.0),
        ("1.2.0", "success"): ("1.2.1", 9000.0),
        ("1.3.0", "success"): ("1.2.1", 7200.0),
        ("1.4.0", "failure"): (None, None),
    }
    metrics = dora_metrics(organization=org, since=SINCE, until=UNTIL)
    restored = [r.seconds for r in recoveries.values() if r.seconds is not None]
    assert len(recoveries) == metrics["change_failure_rate"]["failed"]
    assert len(restored) == metrics["recovery_time"]["recovered"]
    assert median(restored) == metrics["recovery_time"]["median_seconds"]


def test_a_page_that_starts_mid_history_gets_the_same_answer(org):
    build_worked_example(org)
    rows = production(org)
    whole = deployment_recoveries(organization=org, deployments=rows)

    # One row at a time: each is read with only what came after it.
    one_by_one = {}
    for row in rows:
        one_by_one |= deployment_recoveries(organization=org, deployments=[row])

    assert one_by_one == whole


def test_the_failed_change_filter_selects_the_same_deployments(org, other_org):
    build_worked_example(org, other_org)
    ids = Deployment.objects.filter(
        pk__in=deployment_failed_change_ids(organization=org, since=SINCE, until=UNTIL), environment__name="production"
    ).values_list("release__version", flat=True)

    assert sorted(ids) == ["1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    assert not Deployment.objects.filter(
        pk__in=deployment_failed_change_ids(organization=other_org), release__version="1.3.0"
    ).exists()


def test_a_rollback_the_tracker_detected_is_marked_and_a_declared_one_is_not(org):
    release(org, "1.0.0", {1: at(0)})
    release(org, "2.0.0", {2: at(0)})
    deploy(org, "1.0.0", at(1))
    deploy(org, "2.0.0", at(2))
    detected = deploy(org, "1.0.0", at(3))
    declared = deploy(org, "2.0.0", at(4), is_rollback=True)

    assert (detected.is_rollback, detected.rollback_detected) == (True, True)
    assert (declared.is_rollback, declared.rollback_detected) == (True, False)


def test_it_costs_two_queries_whatever_the_page(org, django_assert_max_num_queries):
    build_worked_example(org)
    rows = production(org)
    with django_assert_max_num_queries(2):
        deployment_recoveries(organization=org, deployments=rows)


def _deployment_rows_read(plan: dict) -> int:
    total = 0
    if plan.get("Relation Name") == "deployments_deployment":
        total += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    return total + sum(_deployment_rows_read(child) for child in plan.get("Plans", []))


def test_a_page_of_recent_deployments_reads_only_what_came_after_it(org):
    if connection.vendor != "postgresql":
        pytest.skip("the plans checked here are PostgreSQL's")
    old = release(org, "0.1.0", {1: at(-400)})
    project = Project.objects.get(organization=org, name="api")
    production = Environment.objects.create(organization=org, name="production", is_production=True)
    # A long history before the page: none of it can change what the page's rows are.
    Deployment.objects.bulk_create(
        Deployment(
            organization=org,
            environment=production,
            release=old,
            project=project,
            status="failure" if n % 4 == 0 else "success",
            occurred_at=at(-300) + timedelta(minutes=n),
        )
        for n in range(3000)
    )
    release(org, "1.0.0", {2: at(0)})
    for hour, status in enumerate(["success", "failure", "success", "success", "failure"]):
        deploy(org, "1.0.0", at(1, hour), status=status)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deployments_deployment")
    page = list(Deployment.objects.filter(organization=org).order_by("-occurred_at", "-id")[:5])

    with CaptureQueriesContext(connection) as queries:
        recoveries = deployment_recoveries(organization=org, deployments=page)

    assert sorted(r.seconds for r in recoveries.values() if r.seconds) == [3600.0]
    sql = queries.captured_queries[0]["sql"]
    assert _deployment_rows_read(explain_analyze(sql, None)) <= 30, sql
