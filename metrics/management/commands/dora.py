"""``python manage.py dora ORG_SLUG``: the organization's DORA metrics as a table (the API's numbers)."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date

from metrics.selectors import BUCKETS, dora_metrics
from releasetracker.api.fields import parse_aware
from releasetracker.errors import DomainError
from releasetracker.models import Organization


def _when(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date-time with a timezone, or a plain date (midnight UTC)."""
    if value is None:
        return None
    day = parse_date(value.strip()) if len(value.strip()) == 10 else None
    if day is not None:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        return parse_aware(value)
    except ValueError as exc:
        raise CommandError(f"{option}: {exc}") from None


def duration(seconds: float | None) -> str:
    """``1d 2h 0m (93600 s)``: readable, with the exact seconds the API gives."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = ([f"{days}d"] if days else []) + ([f"{hours}h"] if days or hours else []) + [f"{minutes}m"]
    return f"{' '.join(parts)} ({seconds:g} s)"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f} %"


class Command(BaseCommand):
    help = (
        "Print an organization's DORA metrics over [since, until) (default: the last 30 days) as a table: "
        "the same numbers as GET /api/v1/metrics/dora/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("org_slug")
        parser.add_argument("--since", help="window start, inclusive: ISO 8601 with timezone, or YYYY-MM-DD (UTC)")
        parser.add_argument("--until", help="window end, exclusive (default now)")
        parser.add_argument("--project", help="a project name (default: all projects)")
        parser.add_argument("--environment", help="an environment name (default: all production environments)")
        parser.add_argument("--bucket", choices=list(BUCKETS), default=None, help="also print the series per bucket")

    def handle(self, *args, org_slug: str, since, until, project, environment, bucket, **options) -> None:
        organization = Organization.objects.filter(slug=org_slug).first()
        if organization is None:
            raise CommandError(f"no organization with slug '{org_slug}'")
        try:
            result = dora_metrics(
                organization=organization,
                since=_when(since, "--since"),
                until=_when(until, "--until"),
                project=project,
                environment=environment,
                bucket=bucket or "week",
            )
        except DomainError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}" if exc.field else str(exc)) from None

        freq = result["deployment_frequency"]
        lead = result["lead_time"]
        cfr = result["change_failure_rate"]
        rec = result["recovery_time"]
        rework = result["rework_rate"]
        scope = ", ".join(
            [
                f"environment {environment}" if environment else "all production environments",
                f"project {project}" if project else "all projects",
            ]
        )
        self.stdout.write(f"DORA metrics for {organization.slug}, {result['since']} to {result['until']} ({scope})")
        rows = [
            ("metric", "value", "band", "detail"),
            (
                "deployment frequency",
                f"{freq['per_day']:g} / day",
                freq["band"],
                f"{freq['count']} successful deployments",
            ),
            (
                "change lead time",
                duration(lead["median_seconds"]),
                lead["band"],
                f"median of {lead['commits']} commits; p90 {duration(lead['p90_seconds'])}",
            ),
            (
                "change failure rate",
                percent(cfr["rate"]),
                cfr["band"],
                f"{cfr['failed']} failed of {cfr['total']} finished deployments",
            ),
            (
                "recovery time",
                duration(rec["median_seconds"]),
                rec["band"],
                f"median of {rec['recovered']} recovered; {rec['unrecovered']} not yet recovered",
            ),
            (
                "rework rate",
                percent(rework["rate"]),
                None,
                f"{rework['rework']} fixes of {rework['total']} successful deployments",
            ),
        ]
        self._table(rows)
        self.stdout.write(
            f"unattributed incidents: {result['incidents']['unattributed']} "
            "(started in the window, attributed to no deployment, so counted in no metric above)"
        )
        if bucket:
            self.stdout.write("")
            self._table(
                [("bucket start", "deployments", "lead time median", "failed / finished", "recovery median")]
                + [
                    (
                        f["start"],
                        str(f["count"]),
                        duration(lt["median_seconds"]),
                        f"{c['failed']} / {c['total']}",
                        duration(r["median_seconds"]),
                    )
                    for f, lt, c, r in zip(freq["series"], lead["series"], cfr["series"], rec["series"], strict=True)
                ]
            )

    def _table(self, rows: list[tuple]) -> None:
        cells = [[("-" if cell is None else str(cell)) for cell in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        for row in cells:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
