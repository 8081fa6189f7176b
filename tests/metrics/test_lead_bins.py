"""Lead time's exact percentiles from bins: the same floats ``percentile_cont`` gives over every row.

``queries.lead_times`` counts the window's commits per bucket and lead-time bin, then reads only
the rows of the bins that hold the ranks a percentile needs. Random data (fixed seed) with lead
times in every kind of bin, ties, values exactly on bin and bucket boundaries, lead times <= 0
and buckets of 1, 2, an even and an odd number of commits must give, float for float, what the
single statement that sorted the whole window gave (kept here as the reference).
"""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.first_deployments import first_deployments_fill
from deployments.models import Deployment, FirstDeployment
from deployments.services import environment_get_or_create
from metrics import queries
from releases.models import Commit
from releasetracker.sql import seconds_between
from tests.metrics.scenario import SINCE, sha

pytestmark = pytest.mark.django_db

DAY = 86400
# Commits first deployed on each day of the two weeks from SINCE: days of 1 and 2 commits, odd
# and even counts, empty days.
PER_DAY = [1, 2, 0, 3, 4, 60, 1, 2, 97, 10, 0, 5, 6, 150]
# Lead times on and next to the bins' edges (the pieces' starts, their widths), <= 0, and beyond 90 days.
EDGES = [
    -5.0, 0.0, 0.001, 0.5, 1.0, 59.999, 60.0, 74.999, 75.0, 3599.999, 3600.0, 3720.0, 86399.999, 86400.0,
    87000.0, 7 * DAY - 0.001, 7 * DAY, 90 * DAY - 0.001, 90 * DAY, 91 * DAY, 400 * DAY,
]  # fmt: skip


def _reference(scope: queries.Scope) -> dict[int, dict]:
    """The single statement lead time was before the bins: every row of the window, sorted by
    ``percentile_cont`` (SQLite: the same interpolation over ``ROW_NUMBER()``)."""
    params = queries._params(scope)
    params["environment_key"] = scope.environment_key
    params["project_key"] = FirstDeployment.ALL if scope.project_id is None else scope.project_id
    sql = f"""
    WITH lead AS (
        SELECT {queries._bucket("f.occurred_at", scope)} AS bucket,
               {queries._seconds("f.occurred_at", "f.committed_at")} AS seconds
        FROM {queries.FIRST_DEPLOYMENT} f
        WHERE f.organization_id = %(org)s AND f.environment_key = %(environment_key)s
          AND f.project_key = %(project_key)s AND f.occurred_at >= %(since)s AND f.occurred_at < %(until)s
    ),
    expanded AS (
        SELECT bucket AS k, seconds FROM lead WHERE seconds > 0
        UNION ALL
        SELECT {queries.TOTAL} AS k, seconds FROM lead WHERE seconds > 0
    ),
    counts AS (SELECT k, COUNT(*) AS commits FROM expanded GROUP BY k),
    medians AS ({queries._percentiles("expanded", "seconds", {"lead_median": 0.5, "lead_p90": 0.9})})
    SELECT c.k, c.commits, m.lead_median, m.lead_p90
    FROM counts c LEFT JOIN medians m ON m.k = c.k
    """  # noqa: S608
    return queries._fetch(sql, params)


def _deploy_commits(org, leads_at: list[tuple[timedelta, float]], first: int = 0) -> None:
    """One commit per ``(deployed at, lead seconds)``, first deployed (a bare-sha success in
    production) then, committed that many seconds earlier; the rows filled by the write path's SQL."""
    production = environment_get_or_create(organization=org, name="production")
    commits, deployments = [], []
    for number, (offset, lead) in enumerate(leads_at, start=first):
        deployed_at = SINCE + offset
        commits.append(Commit(organization=org, sha=sha(number), timestamp=deployed_at - timedelta(seconds=lead)))
        deployments.append(
            Deployment(
                organization=org,
                environment=production,
                commit_sha=sha(number),
                status="success",
                occurred_at=deployed_at,
            )
        )
    Commit.objects.bulk_create(commits)
    Deployment.objects.bulk_create(deployments)
    first_deployments_fill(organization_id=org.pk)


def _random_leads(rng: random.Random) -> list[tuple[timedelta, float]]:
    pool = [rng.choice(EDGES) for _ in range(12)]  # repeated, so values tie
    leads_at = []
    for day, count in enumerate([2, *PER_DAY, 2]):  # and a day before and after the two weeks
        for _ in range(count):
            if rng.random() < 0.1:
                offset = timedelta(days=day - 1)  # exactly on a day's (and maybe a week's) edge
            else:
                offset = timedelta(days=day - 1, seconds=rng.randrange(DAY), microseconds=rng.randrange(1_000_000))
            kind = rng.random()
            if kind < 0.3:
                lead = rng.choice(pool)
            elif kind < 0.4:
                lead = rng.choice(EDGES)
            elif kind < 0.7:
                # Crowded bins: many distinct values in the same few bins.
                lead = rng.choice([3 * 3600, 10 * DAY, 120 * DAY]) + round(rng.uniform(0, 7200), 3)
            else:
                # Spread over every piece, from a fraction of a second to a year.
                lead = round(10 ** rng.uniform(-1, 7.5), rng.choice([0, 3, 6]))
            leads_at.append((offset, lead))
    return leads_at


def _scopes(org) -> list[queries.Scope]:
    production = environment_get_or_create(organization=org, name="production")
    common = {"organization_id": org.pk, "environment_ids": [production.pk], "project_id": None}
    return [
        # Two whole weeks in week buckets.
        queries.Scope(**common, since=SINCE, until=SINCE + timedelta(days=14), anchor=SINCE, bucket_seconds=7 * DAY),
        # Days, the first and last partly outside the window.
        queries.Scope(
            **common,
            since=SINCE + timedelta(days=1, hours=6),
            until=SINCE + timedelta(days=13, hours=18),
            anchor=SINCE + timedelta(days=1),
            bucket_seconds=DAY,
        ),
        # Weeks not aligned to the data, starting mid-week.
        queries.Scope(
            **common,
            since=SINCE + timedelta(days=3, hours=12),
            until=SINCE + timedelta(days=15),
            anchor=SINCE,
            bucket_seconds=7 * DAY,
        ),
    ]


@pytest.mark.parametrize("seed", [3, 1977])
def test_lead_times_from_bins_are_the_floats_percentile_cont_gives(org, seed):
    _deploy_commits(org, _random_leads(random.Random(seed)))

    sizes = set()
    for scope in _scopes(org):
        expected = _reference(scope)
        with CaptureQueriesContext(connection) as statements:
            got = queries.lead_times(scope)

        assert len(statements.captured_queries) == 2
        assert set(got) == set(expected)
        sizes |= {row["commits"] for row in got.values()}
        for k, row in expected.items():
            assert got[k]["commits"] == row["commits"], (scope, k)
            assert got[k]["lead_median"] == row["lead_median"], (scope, k)
            # The series shows no p90 per bucket: it is read for the whole window only.
            assert got[k]["lead_p90"] == (row["lead_p90"] if k == queries.TOTAL else None), (scope, k)
    assert {1, 2} <= sizes, "buckets of one and of two commits"
    assert any(n % 2 for n in sizes - {1}) and any(n % 2 == 0 for n in sizes - {2}), "odd and even counts"


def test_a_window_with_nothing_to_count_takes_one_statement(org):
    _deploy_commits(org, [(timedelta(days=1), -5.0), (timedelta(days=30), 600.0)])
    scope = _scopes(org)[0]

    with CaptureQueriesContext(connection) as statements:
        got = queries.lead_times(scope)

    assert got == {} == _reference(scope)
    assert len(statements.captured_queries) == 1


def test_lead_time_bins_are_contiguous_and_grow_with_the_lead_time(org):
    leads = [*EDGES, *(round(10 ** (k / 50), 3) for k in range(-50, 380))]
    _deploy_commits(org, [(timedelta(days=1), lead) for lead in leads])

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {seconds_between('occurred_at', 'committed_at')}, lead_bin FROM deployments_firstdeployment"  # noqa: S608
            " WHERE organization_id = %s AND environment_key = 0 AND project_key = 0 ORDER BY 1",
            [org.pk],
        )
        rows = cursor.fetchall()
    bins = dict(rows)

    assert len(rows) == len(leads)
    assert [b for _, b in rows] == sorted(b for _, b in rows)
    assert all((b == -1) == (s <= 0) for s, b in rows)
    # Each piece's first bin follows the previous piece's last one.
    assert [bins[s] for s in (-5.0, 0.0, 0.001, 1.0, 59.999, 60.0, 74.999, 75.0)] == [-1, -1, 0, 1, 59, 60, 60, 61]
    assert [bins[s] for s in (3599.999, 3600.0, 3720.0, 86399.999, 86400.0, 87000.0)] == [295, 296, 297, 985, 986, 987]
    assert [bins[s] for s in (7 * DAY - 0.001, 7 * DAY, 90 * DAY - 0.001, 90 * DAY, 91 * DAY)] == [
        1849,
        1850,
        3841,
        3842,
        3843,
    ]


def test_a_year_of_day_buckets_is_read_in_two_statements_on_every_database(org):
    # Two commits a day (one every fifth day): more ranks than SQLite takes in one compound SELECT.
    rng = random.Random(8)
    leads_at = [
        (timedelta(days=day, hours=rng.randrange(24)), round(rng.uniform(1, 3 * DAY), 3))
        for day in range(366)
        for _ in range(1 if day % 5 == 0 else 2)
    ]
    _deploy_commits(org, leads_at)
    production = environment_get_or_create(organization=org, name="production")
    scope = queries.Scope(
        organization_id=org.pk,
        environment_ids=[production.pk],
        project_id=None,
        since=SINCE,
        until=SINCE + timedelta(days=366),
        anchor=SINCE,
        bucket_seconds=DAY,
    )
    expected = _reference(scope)

    with CaptureQueriesContext(connection) as statements:
        got = queries.lead_times(scope)

    assert len(statements.captured_queries) == 2
    assert len(got) == 367
    assert {k: (row["commits"], row["lead_median"]) for k, row in got.items()} == {
        k: (row["commits"], row["lead_median"]) for k, row in expected.items()
    }
    assert got[queries.TOTAL]["lead_p90"] == expected[queries.TOTAL]["lead_p90"]
