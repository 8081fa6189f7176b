"""The worked example of docs/metrics.md, built through the services with explicit times.

Two weeks, Monday 2024-03-04 to Monday 2024-03-18 (UTC), project "api" in "production", with
staging deployments and another organization's deployments as noise that must not count.
The numbers every test expects are written next to the data, computed by hand.
"""

from datetime import UTC, datetime, timedelta

from deployments.services import deployment_record
from releases.services import CommitInput, release_create

SINCE = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
UNTIL = datetime(2024, 3, 18, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Day ``day`` of the window (0 = Monday 4 March) at hh:mm UTC."""
    return SINCE + timedelta(days=day, hours=hour, minutes=minute)


def sha(number: int) -> str:
    return f"{number:040x}"


def release(org, version: str, commits: dict[int, datetime | None], project: str = "api"):
    """A release of ``project`` with commits ``{number: timestamp}``."""
    release_row, _ = release_create(
        organization=org,
        version=version,
        projects=[project],
        commits=[CommitInput(sha=sha(n), timestamp=ts, message=f"change {n}") for n, ts in commits.items()],
    )
    return release_row


def deploy(org, version: str, when: datetime, *, environment: str = "production", **kwargs):
    deployment, _ = deployment_record(
        organization=org, environment=environment, release=version, finished_at=when, **kwargs
    )
    return deployment


# What the worked example must give for [SINCE, UNTIL), by hand (see docs/metrics.md).
EXPECTED = {
    "deployment_frequency": {"count": 7, "per_day": 0.5, "band": "high"},
    "lead_time": {"median_seconds": 25200.0, "p90_seconds": 96480.0, "commits": 7, "band": "elite"},
    "change_failure_rate": {"failed": 4, "total": 9, "rate": 0.4444, "band": "low"},
    "recovery_time": {"median_seconds": 7200.0, "recovered": 3, "unrecovered": 1, "band": "high"},
    "rework_rate": {"rework": 2, "total": 7, "rate": 0.2857},
    "incidents": {"unattributed": 0},
}
EXPECTED_WEEKS = {
    "deployments": [4, 3],
    "lead_median": [25200.0, 48600.0],
    "failed_total": [(2, 5), (2, 4)],
    "recovery_median": [6300.0, 7200.0],
    "rework_total": [(1, 4), (1, 3)],
}


def build_worked_example(org, other_org=None) -> None:
    # Before the window: 0.9.0 ships commit 100, so a later release that carries it again must
    # not count it (first-deployment rule).
    release(org, "0.9.0", {100: at(-3)})
    deploy(org, "0.9.0", at(-1))

    # 1.0.0 carries commit 100 again plus 101 and 102: lead times 28 h and 26 h.
    release(org, "1.0.0", {100: at(-3), 101: at(0, 8), 102: at(0, 10)})
    deploy(org, "1.0.0", at(1, 11), environment="staging")
    deploy(org, "1.0.0", at(1, 12))  # 1: success

    # 1.1.0 fails once, then succeeds an hour later: failed change recovered in 1 h; commit 103
    # counts from its first *successful* deployment: 7 h.
    release(org, "1.1.0", {103: at(2, 9)})
    deploy(org, "1.1.0", at(2, 15), status="failure")  # 2: failed change
    deploy(org, "1.1.0", at(2, 16))  # 3: success, recovers 2

    # 1.2.0 ships, then the hotfix 1.2.1 follows: 1.2.0 is a failed change, recovered by the
    # hotfix 2 h 30 min later. Commit 104: 4 h; commit 105: 1 h 30 min.
    release(org, "1.2.0", {104: at(3, 10)})
    deploy(org, "1.2.0", at(3, 14))  # 4: failed change (last success before a hotfix)
    release(org, "1.2.1", {105: at(3, 15)})
    deploy(org, "1.2.1", at(3, 16, 30), is_hotfix=True)  # 5: success, rework, recovers 4

    # A cancelled deployment is not finished: it counts nowhere.
    release(org, "1.2.2", {106: at(4, 9)})
    deploy(org, "1.2.2", at(4, 10), status="canceled")

    # Week 2. 1.3.0 ships (commit 107: 25 h), then 1.2.1 goes back: detected as a rollback,
    # which makes 1.3.0 a failed change recovered 2 h later. Commit 105 is not counted again.
    release(org, "1.3.0", {107: at(7, 9)})
    deploy(org, "1.3.0", at(8, 10))  # 6: failed change (last success before a rollback)
    deploy(org, "1.2.1", at(8, 12))  # 7: success, automatic rollback, recovers 6

    # 1.3.2 is a fix (rework). Commit 108: 2 h; commit 109's time is after the deployment
    # (clock skew), a value <= 0 that is left out.
    release(org, "1.3.2", {108: at(9, 8), 109: at(9, 11)})
    deploy(org, "1.3.2", at(9, 10), is_fix=True)  # 9: success, rework

    # 1.4.0 fails and nothing follows: unrecovered. Commit 110 never reached production.
    release(org, "1.4.0", {110: at(10, 9)})
    deploy(org, "1.4.0", at(10, 11), status="failure")  # 8: failed change, unrecovered

    if other_org is not None:
        # Another organization, same names and window: none of it may count.
        release(other_org, "1.0.0", {200: at(0, 1)})
        deploy(other_org, "1.0.0", at(1, 1), status="failure")
        deploy(other_org, "1.0.0", at(1, 2))
