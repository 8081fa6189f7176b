"""DORA metrics of one organization over a window, exactly as DESIGN.md ("DORA metrics") defines them.

``dora_metrics`` is the one entry point: the API, the metrics page and the ``dora`` command all
call it and show what it returns (the API's JSON shape). The SQL lives in ``metrics.queries``;
this module resolves the scope, checks the window, and turns aggregates into values and bands.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from django.db.models.expressions import RawSQL

from deployments.models import Deployment, Environment, FirstDeployment
from metrics import queries
from releases.models import Project
from releasetracker.errors import DomainError
from releasetracker.models import Organization

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
# The previous window (the trend) and the weeks the buckets start in must still be dates a
# datetime can hold: an earlier window was an OverflowError (a 500).
EARLIEST = datetime(1, 1, 1, tzinfo=UTC) + MAX_WINDOW + DEFAULT_WINDOW + timedelta(days=14)
BUCKETS = {"day": 86400, "week": 7 * 86400}

DAY = 86400
HOUR = 3600

ELITE, HIGH, MEDIUM, LOW = "elite", "high", "medium", "low"


# Bands: the 2023 DORA report's thresholds (docs/metrics.md says how they differ from DevLake's) --


def frequency_band(count: int, window: timedelta) -> str:
    # Exact fractions: "exactly one a day" must be elite, not lost to a float rounding.
    per_day = Fraction(count) * DAY * 1_000_000 / _microseconds(window)
    if per_day >= 1:
        return ELITE
    if per_day >= Fraction(1, 7):
        return HIGH
    if per_day >= Fraction(1, 30):
        return MEDIUM
    return LOW


def lead_time_band(median_seconds: float | None) -> str | None:
    if median_seconds is None:
        return None
    if median_seconds < DAY:
        return ELITE
    if median_seconds < 7 * DAY:
        return HIGH
    if median_seconds < 30 * DAY:
        return MEDIUM
    return LOW


def failure_rate_band(failed: int, total: int) -> str | None:
    if total == 0:
        return None
    # Integers: exactly 5 % (1 of 20) is elite.
    if failed * 100 <= 5 * total:
        return ELITE
    if failed * 100 <= 10 * total:
        return HIGH
    if failed * 100 <= 15 * total:
        return MEDIUM
    return LOW


def recovery_band(median_seconds: float | None) -> str | None:
    if median_seconds is None:
        return None
    if median_seconds < HOUR:
        return ELITE
    if median_seconds < DAY:
        return HIGH
    if median_seconds < 7 * DAY:
        return MEDIUM
    return LOW


# Window --------------------------------------------------------------------------------------


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError("must be an ISO 8601 date-time with a timezone", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("must carry a timezone, for example 2024-05-01T12:00:00Z", field=field)
    return value.astimezone(UTC)


def resolve_window(
    since: datetime | None, until: datetime | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """Fill in the defaults (the 30 days up to now) and check the window; raise ``DomainError`` naming the field."""
    until = _aware(until, "until") if until is not None else (now or datetime.now(UTC)).astimezone(UTC)
    since = _aware(since, "since") if since is not None else None
    if until < EARLIEST:
        raise DomainError(f"must be on or after {EARLIEST.date().isoformat()}", field="until")
    if since is None:
        since = until - DEFAULT_WINDOW
    if since < EARLIEST:
        raise DomainError(f"must be on or after {EARLIEST.date().isoformat()}", field="since")
    if since >= until:
        raise DomainError("must be before until", field="since")
    if until - since > MAX_WINDOW:
        raise DomainError(f"the window from since to until may span at most {MAX_WINDOW.days} days", field="until")
    return since, until


def previous_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The window of the same length just before ``[since, until)``: what a trend compares with."""
    return since - (until - since), since


def _anchor(since: datetime, bucket: str) -> datetime:
    """Start of the calendar bucket holding ``since``: midnight UTC, or Monday midnight UTC for weeks."""
    midnight = since.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        return midnight - timedelta(days=midnight.weekday())
    return midnight


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Scope ---------------------------------------------------------------------------------------


def _environment_ids(organization: Organization, environment: str | None) -> list[int]:
    environments = Environment.objects.for_organization(organization)
    if environment:
        found = list(environments.filter(name=environment).values_list("id", flat=True))
        if not found:
            raise DomainError(f"no environment named '{environment}' in this organization", field="environment")
        return found
    return list(environments.filter(is_production=True).order_by("id").values_list("id", flat=True))


def _project_id(organization: Organization, project: str | None) -> int | None:
    if not project:
        return None
    found = Project.objects.for_organization(organization).filter(name=project).values_list("id", flat=True).first()
    if found is None:
        raise DomainError(f"no project named '{project}' in this organization", field="project")
    return found


# The metrics ---------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def dora_metrics(
    *,
    organization: Organization,
    since: datetime | None,
    until: datetime | None,
    project: str | None = None,
    environment: str | None = None,
    bucket: str = "week",
) -> dict:
    """The five DORA metrics of ``organization`` over ``[since, until)``, with bands and a series per bucket.

    ``project`` and ``environment`` are names; without ``environment`` every production
    environment counts. Durations are in seconds, rates are fractions; a rate or duration with
    nothing to measure is ``None`` with band ``None``. Series buckets are calendar days or
    ISO weeks (Monday) in UTC; the first and last may be partly outside the window and then count
    only the part inside it. Raises ``DomainError`` naming the parameter at fault.
    """
    if organization is None:
        raise ValueError("dora_metrics needs an organization")
    if bucket not in BUCKETS:
        raise DomainError(f"must be one of: {', '.join(BUCKETS)}", field="bucket")
    since, until = resolve_window(since, until)
    project = project or None
    environment = environment or None
    environment_ids = _environment_ids(organization, environment)
    project_id = _project_id(organization, project)

    anchor = _anchor(since, bucket)
    size = BUCKETS[bucket]
    span = _microseconds(until - anchor)
    bucket_count = -(-span // (size * 1_000_000))
    starts = [anchor + timedelta(seconds=size * index) for index in range(bucket_count)]

    if environment_ids:
        scope = queries.Scope(
            organization_id=organization.pk,
            environment_ids=environment_ids,
            project_id=project_id,
            since=since,
            until=until,
            anchor=anchor,
            bucket_seconds=size,
            production_ids=environment_ids if environment is None else _environment_ids(organization, None),
            environment_key=FirstDeployment.ALL if environment is None else environment_ids[0],
        )
        changes = queries.changes(scope)
        leads = queries.lead_times(scope)
    else:
        # No production environment yet: nothing was deployed to production.
        changes, leads = {}, {}

    def change_row(key: int) -> dict:
        row = changes.get(key) or {}
        return {
            name: int(row.get(name) or 0)
            for name in ("deployments", "finished", "failed", "rework", "recovered", "unrecovered")
        } | {"recovery_median": _round(row.get("recovery_median"), 3)}

    def lead_row(key: int) -> dict:
        row = leads.get(key) or {}
        return {
            "commits": int(row.get("commits") or 0),
            "median": _round(row.get("lead_median"), 3),
            "p90": _round(row.get("lead_p90"), 3),
        }

    total = change_row(queries.TOTAL)
    lead = lead_row(queries.TOTAL)
    window = until - since
    per_day = round(total["deployments"] * DAY * 1_000_000 / _microseconds(window), 4)
    buckets = [(iso(start), change_row(index), lead_row(index)) for index, start in enumerate(starts)]

    return {
        "since": iso(since),
        "until": iso(until),
        "project": project,
        "environment": environment,
        "deployment_frequency": {
            "count": total["deployments"],
            "per_day": per_day,
            "band": frequency_band(total["deployments"], window),
            "series": [{"start": start, "count": row["deployments"]} for start, row, _ in buckets],
        },
        "lead_time": {
            "median_seconds": lead["median"],
            "p90_seconds": lead["p90"],
            "commits": lead["commits"],
            "band": lead_time_band(lead["median"]),
            "series": [
                {"start": start, "median_seconds": row["median"], "commits": row["commits"]}
                for start, _, row in buckets
            ],
        },
        "change_failure_rate": {
            "failed": total["failed"],
            "total": total["finished"],
            "rate": _rate(total["failed"], total["finished"]),
            "band": failure_rate_band(total["failed"], total["finished"]),
            "series": [
                {
                    "start": start,
                    "failed": row["failed"],
                    "total": row["finished"],
                    "rate": _rate(row["failed"], row["finished"]),
                }
                for start, row, _ in buckets
            ],
        },
        "recovery_time": {
            "median_seconds": total["recovery_median"],
            "recovered": total["recovered"],
            "unrecovered": total["unrecovered"],
            "band": recovery_band(total["recovery_median"]),
            "series": [
                {
                    "start": start,
                    "median_seconds": row["recovery_median"],
                    "recovered": row["recovered"],
                    "unrecovered": row["unrecovered"],
                }
                for start, row, _ in buckets
            ],
        },
        "rework_rate": {
            "rework": total["rework"],
            "total": total["deployments"],
            "rate": _rate(total["rework"], total["deployments"]),
            "series": [
                {
                    "start": start,
                    "rework": row["rework"],
                    "total": row["deployments"],
                    "rate": _rate(row["rework"], row["deployments"]),
                }
                for start, row, _ in buckets
            ],
        },
        "incidents": {"unattributed": int((changes.get(queries.TOTAL) or {}).get("unattributed") or 0)},
    }


# Failed changes and recoveries on the pages ------------------------------------------------------
# The deployments view's ``failed_change`` filter and the "restored by" of the deployments view and
# the release page read what the metrics read (each deployment's stored outcome, with the incidents
# added by ``queries.incidents_ctes``), so a tile's number and the list it links to agree.


def _positional(sql: str, params: dict) -> tuple[str, list]:
    """``sql`` with its named placeholders as ``%s`` and the values in their order: what a
    subquery inside an ORM query takes."""
    values = []

    def take(match: re.Match) -> str:
        values.append(params[match.group(1)])
        return "%s"

    return re.sub(r"%\((\w+)\)s", take, sql), values


def failed_change_ids(
    *, organization: Organization, since: datetime | None = None, until: datetime | None = None
) -> RawSQL:
    """The ids of the organization's failed changes in ``[since, until)`` (either end open), in
    every environment, as a subquery for ``pk__in``: no query of its own."""
    if organization is None:
        raise ValueError("failed_change_ids needs an organization")
    sql, values = _positional(*queries.failed_change_ids_sql(organization.pk, since, until))
    # Only fixed fragments are formatted in; every value is a parameter.
    return RawSQL(sql, values)  # noqa: S611


@dataclass(frozen=True)
class Recovery:
    """What a failed change's page row shows: the deployment that recovered it (None: not yet, or
    recovered by its incidents' resolution), the seconds to recovery (None: not yet), and whether
    incidents are attributed to it (then the recovery runs from the first one's start to the last
    one's end, as the metrics measure it)."""

    recovered_by: Deployment | None
    seconds: float | None
    by_incidents: bool = False


def deployment_recoveries(*, organization: Organization, deployments: Sequence[Deployment]) -> dict[int, Recovery]:
    """The failed changes among ``deployments`` (a page), by id, each with what recovered it.

    Two queries whatever the page's size: the page's stored outcomes with the incidents of its
    environments from its earliest row on, and the recovering deployments with their release and
    environment.
    """
    if organization is None:
        raise ValueError("deployment_recoveries needs an organization")
    if not deployments:
        return {}
    rows = queries.recoveries(
        organization.pk,
        min(d.occurred_at for d in deployments),
        sorted({d.environment_id for d in deployments}),
        [d.pk for d in deployments],
    )
    wanted = {row["recovered_by"] for row in rows if row["recovered_by"] and not row["has_incidents"]}
    recovering = {
        d.pk: d
        for d in Deployment.objects.for_organization(organization)
        .filter(pk__in=wanted)
        .select_related("environment", "release", "project")
    }
    by_id = {d.pk: d for d in deployments}
    found = {}
    for row in rows:
        if row["has_incidents"]:
            found[row["id"]] = Recovery(recovered_by=None, seconds=row["incident_seconds"], by_incidents=True)
            continue
        later = recovering.get(row["recovered_by"])
        seconds = (later.occurred_at - by_id[row["id"]].occurred_at).total_seconds() if later else None
        found[row["id"]] = Recovery(recovered_by=later, seconds=seconds)
    return found
