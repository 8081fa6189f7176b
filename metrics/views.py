"""The metrics page: five DORA tiles and weekly charts, drawn as SVG on the server (nothing loaded from elsewhere)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from deployments.selectors import environment_list
from metrics.exports import SERIES_HEADER, dora_series_rows
from metrics.selectors import dora_metrics
from releases.selectors import project_list
from releasetracker.errors import DomainError
from releasetracker.exports import csv_response, wants_csv
from releasetracker.page_helpers import OrgFilterForm, humanize_seconds, query_without
from releasetracker.pages import org_page, page_context

WINDOW_CHOICES = [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"), (180, "Last 180 days")]
DEFAULT_WINDOW = 30
DAILY_BARS_UP_TO_DAYS = 31


class MetricsFilterForm(OrgFilterForm):
    field_order = ["days", "project", "environment"]
    days = forms.TypedChoiceField(choices=WINDOW_CHOICES, coerce=int, required=False, label="Window")
    environment = forms.ChoiceField(required=False, help_text="default: all production environments")
    all_environments_label = "Production (all)"

    def __init__(self, data, *, projects: list[str], environments: list[str]):
        super().__init__(data, projects=projects, environments=environments)
        if "days" not in self.data:
            # The select shows the window the figures cover, so Apply without a change keeps it.
            self.data = {**self.data, "days": str(DEFAULT_WINDOW)}


# Tiles -------------------------------------------------------------------------------------------


@dataclass
class Tile:
    key: str
    title: str
    value: str
    band: str | None
    detail: str
    change: str = ""
    # "better", "worse" or "same": the colour of the change, whose direction depends on the metric.
    trend: str = "same"
    explain: str = ""
    # The deployments view filtered to what is behind the number (set by the view).
    href: str = ""
    # The incidents list of the same window and scope, for the numbers incidents feed.
    incidents_href: str = ""


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


FREQUENCY_UNITS = {"day": 1, "week": 7, "month": 30}


def _frequency_unit(per_day: float | None) -> str:
    """The unit that shows ``per_day`` as a number of at least one (day, week or month)."""
    if per_day is None or per_day >= 1:
        return "day"
    return "week" if per_day * 7 >= 1 else "month"


def _frequency(per_day: float | None, unit: str | None = None) -> str:
    if per_day is None:
        return "—"
    unit = unit or _frequency_unit(per_day)
    return f"{per_day * FREQUENCY_UNITS[unit]:.1f} / {unit}"


def _change(
    current: float | None, previous: float | None, *, lower_is_better: bool, kind: str, unit: str = "day"
) -> tuple[str, str]:
    if current is None or previous is None:
        return "no earlier data to compare", "same"
    delta = current - previous
    if abs(delta) < 1e-9:
        return "no change from the previous window", "same"
    arrow = "▲" if delta > 0 else "▼"
    if kind == "rate":
        amount = f"{abs(delta) * 100:.1f} points"
    elif kind == "duration":
        amount = humanize_seconds(abs(delta))
    else:
        # In the unit of the tile's own value, so the two read together.
        amount = _frequency(abs(delta), unit)
    better = (delta < 0) == lower_is_better
    return f"{arrow} {amount} vs the previous window", "better" if better else "worse"


def build_tiles(current: dict, previous: dict, *, environment: str | None = None) -> list[Tile]:
    freq, prev_freq = current["deployment_frequency"], previous["deployment_frequency"]
    lead, prev_lead = current["lead_time"], previous["lead_time"]
    cfr, prev_cfr = current["change_failure_rate"], previous["change_failure_rate"]
    rec, prev_rec = current["recovery_time"], previous["recovery_time"]
    rework, prev_rework = current["rework_rate"], previous["rework_rate"]
    target = f"deployments to {environment}" if environment else "production deployments"
    unit = _frequency_unit(freq["per_day"])
    tiles = [
        Tile(
            "deployment_frequency",
            "Deployment frequency",
            _frequency(freq["per_day"], unit),
            freq.get("band"),
            f"{freq['count']} successful {target}",
            *_change(freq["per_day"], prev_freq["per_day"], lower_is_better=False, kind="frequency", unit=unit),
            explain=f"How often a change reaches {environment or 'production'}.",
        ),
        Tile(
            "lead_time",
            "Change lead time",
            humanize_seconds(lead["median_seconds"]) if lead["median_seconds"] is not None else "—",
            lead.get("band"),
            (
                f"median of {lead['commits']} commits; p90 {humanize_seconds(lead['p90_seconds'])}"
                if lead["median_seconds"] is not None
                else "no commit reached production in this window"
            ),
            *_change(lead["median_seconds"], prev_lead["median_seconds"], lower_is_better=True, kind="duration"),
            explain=f"From commit to its first successful {target[:-1]}.",
        ),
        Tile(
            "change_failure_rate",
            "Change failure rate",
            _rate(cfr["rate"]),
            cfr.get("band"),
            (
                f"{cfr['failed']} failed of {cfr['total']} finished {target}"
                if cfr["rate"] is not None
                else f"no finished {target[:-1]} in this window"
            ),
            *_change(cfr["rate"], prev_cfr["rate"], lower_is_better=True, kind="rate"),
            explain="Deployments that failed or needed a hotfix or rollback.",
        ),
        Tile(
            "recovery_time",
            "Recovery time",
            humanize_seconds(rec["median_seconds"]) if rec["median_seconds"] is not None else "—",
            rec.get("band"),
            (
                f"median of {rec['recovered']} recovered failures"
                + (f"; {rec['unrecovered']} not yet recovered" if rec.get("unrecovered") else "")
                if rec["median_seconds"] is not None
                else (
                    f"{rec['unrecovered']} failures not yet recovered"
                    if rec.get("unrecovered")
                    else "no failed change in this window"
                )
            ),
            *_change(rec["median_seconds"], prev_rec["median_seconds"], lower_is_better=True, kind="duration"),
            explain="From a failed change to the next good deployment.",
        ),
        Tile(
            "rework_rate",
            "Rework rate",
            _rate(rework["rate"]),
            None,
            (
                f"{rework['rework']} fixes of {rework['total']} successful {target}"
                if rework["rate"] is not None
                else f"no successful {target[:-1]} in this window"
            ),
            *_change(rework["rate"], prev_rework["rate"], lower_is_better=True, kind="rate"),
            explain="Deployments that fix an earlier one (is_fix or is_hotfix).",
        ),
    ]
    return tiles


# Charts ------------------------------------------------------------------------------------------

CHART_WIDTH = 640
CHART_HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 12, 12, 32


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    empty: bool = False
    start: datetime | None = None
    href: str = ""


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    bars: list[Bar] = field(default_factory=list)
    gridlines: list[dict] = field(default_factory=list)
    xlabels: list[dict] = field(default_factory=list)
    has_data: bool = False
    summary: str = ""
    plot_left: int = PAD_LEFT
    plot_right: int = CHART_WIDTH - PAD_RIGHT
    plot_bottom: int = CHART_HEIGHT - PAD_BOTTOM


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 × 10^n at or above ``value``, so gridlines land on round numbers."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _parse_start(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _day(value: datetime) -> str:
    return f"{value:%b} {value.day}"


def build_chart(key: str, title: str, series: list[dict], value_key: str, kind: str, bucket: str = "week") -> Chart:
    """Bar geometry for one daily or weekly series; values scaled for display (hours for durations, % for rates)."""
    scale = {"duration": 1 / 3600, "rate": 100, "count": 1}[kind]
    unit = {"duration": "hours", "rate": "%", "count": "deployments"}[kind]
    chart = Chart(key=key, title=title, unit=unit)
    points = []
    for item in series or []:
        raw = item.get(value_key)
        points.append((_parse_start(item.get("start")), None if raw is None else float(raw) * scale))
    values = [v for _, v in points if v is not None]
    chart.has_data = bool(values) and (kind != "count" or any(values))
    top = _nice_max(max(values) if values else 0)
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - PAD_TOP
    for fraction in (0, 0.5, 1):
        value = top * fraction
        chart.gridlines.append(
            {
                "y": round(chart.plot_bottom - plot_h * fraction, 1),
                "label": f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}",
            }
        )
    if not points:
        return chart
    slot = plot_w / len(points)
    width = max(2.0, slot * 0.7)
    label_every = max(1, -(-len(points) // 6))
    for index, (start, value) in enumerate(points):
        x = chart.plot_left + slot * index + (slot - width) / 2
        when = (f"week of {_day(start)}" if bucket == "week" else _day(start)) if start else f"bucket {index + 1}"
        if value is None:
            shown = "no data"
        elif kind == "duration":
            shown = humanize_seconds(value * 3600)
        elif kind == "rate":
            shown = f"{value:.1f} %"
        else:
            shown = f"{value:.0f} deployments"
        height = 0.0 if value is None else plot_h * value / top
        chart.bars.append(
            Bar(
                x=round(x, 1),
                y=round(chart.plot_bottom - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label=f"{when}: {shown}",
                empty=value is None,
                start=start,
            )
        )
        if start and index % label_every == 0:
            chart.xlabels.append({"x": round(x + width / 2, 1), "label": _day(start)})
    described = [bar.label for bar in chart.bars if not bar.empty]
    chart.summary = "; ".join(described) if described else "no data in this window"
    return chart


def chart_bucket(days: int) -> str:
    """Daily bars for windows up to a month (a weekly bar would hide the days), weekly beyond."""
    return "day" if days <= DAILY_BARS_UP_TO_DAYS else "week"


def build_charts(current: dict, bucket: str = "week") -> list[Chart]:
    per = "day" if bucket == "day" else "week"
    return [
        build_chart(
            "deployments",
            f"Deployments per {per}",
            current["deployment_frequency"].get("series"),
            "count",
            "count",
            bucket,
        ),
        build_chart(
            "lead_time",
            "Median lead time (hours)",
            current["lead_time"].get("series"),
            "median_seconds",
            "duration",
            bucket,
        ),
        build_chart(
            "failure_rate",
            "Change failure rate (%)",
            current["change_failure_rate"].get("series"),
            "rate",
            "rate",
            bucket,
        ),
        build_chart(
            "recovery_time",
            "Median recovery time (hours)",
            current["recovery_time"].get("series"),
            "median_seconds",
            "duration",
            bucket,
        ),
    ]


# What each number counts, as the deployments view's filters: the tiles and the bars link there.
TILE_FILTERS = {
    "deployment_frequency": {"status": "success"},
    # The commits' lead times end at the successful deployments that first shipped them.
    "lead_time": {"status": "success"},
    "change_failure_rate": {"failed_change": "1"},
    "recovery_time": {"failed_change": "1"},
    "rework_rate": {"rework": "1"},
}
CHART_FILTERS = {
    "deployments": TILE_FILTERS["deployment_frequency"],
    "lead_time": TILE_FILTERS["lead_time"],
    "failure_rate": TILE_FILTERS["change_failure_rate"],
    "recovery_time": TILE_FILTERS["recovery_time"],
}
# The tiles whose numbers incidents feed (an attributed incident makes a failed change, and its
# start and resolution time the recovery): they also link to the incidents list.
INCIDENT_TILES = ("change_failure_rate", "recovery_time")
BUCKET = timedelta(days=7)


def _scope_query(scope: dict, since: datetime, until: datetime) -> dict:
    """A list page's filters for ``scope``'s environment (or every production one) and project,
    and the whole UTC days of ``[since, until)``."""
    query = {"environment": scope["environment"]} if scope.get("environment") else {"is_production": "1"}
    if scope.get("project"):
        query["project"] = scope["project"]
    first, last = since.astimezone(UTC).date(), (until - timedelta(seconds=1)).astimezone(UTC).date()
    # tz=UTC: the page reads these dates as the UTC days counted here, not as days of the
    # organization's time zone, so the link lists exactly what the number counts.
    return query | {"since": first.isoformat(), "until": last.isoformat(), "tz": "UTC"}


def deployments_link(org, scope: dict, since: datetime, until: datetime, extra: dict) -> str:
    """The deployments view filtered to ``scope``, the whole UTC days of ``[since, until)``, and ``extra``."""
    query = _scope_query(scope, since, until) | extra
    return f"{reverse('deployments:list', kwargs={'org_slug': org.slug})}?{urlencode(query)}"


def incidents_link(org, scope: dict, since: datetime, until: datetime) -> str:
    """The incidents list filtered to ``scope``: every incident that started in the window's whole
    UTC days in its environments (and project), open or resolved, as the metrics read them."""
    query = _scope_query(scope, since, until)
    return f"{reverse('incidents:list', kwargs={'org_slug': org.slug})}?{urlencode(query)}"


def link_numbers(
    org, scope: dict, since: datetime, until: datetime, tiles: list[Tile], charts: list[Chart], *, bucket: str = "week"
) -> None:
    span = timedelta(days=1) if bucket == "day" else BUCKET
    incidents = incidents_link(org, scope, since, until)
    for tile in tiles:
        tile.href = deployments_link(org, scope, since, until, TILE_FILTERS[tile.key])
        if tile.key in INCIDENT_TILES:
            tile.incidents_href = incidents
    for chart in charts:
        for bar in chart.bars:
            if bar.start is not None and not bar.empty:
                start, end = max(bar.start, since), min(bar.start + span, until)
                bar.href = deployments_link(org, scope, start, end, CHART_FILTERS[chart.key])


def window_bounds(days: int, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Whole UTC days ending with today: [since, until) with until = the next midnight."""
    now = now or timezone.now()
    until = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)
    return until - timedelta(days=days), until


@org_page
def metrics(request: HttpRequest) -> HttpResponse:
    org = request.org
    projects = list(project_list(organization=org).values_list("name", flat=True))
    environments = list(environment_list(organization=org).values_list("name", flat=True))
    form = MetricsFilterForm(request.GET, projects=projects, environments=environments)
    filters = form.filters()
    days = filters.get("days", DEFAULT_WINDOW)
    since, until = window_bounds(days)
    scope = {"organization": org, "project": filters.get("project"), "environment": filters.get("environment")}
    bucket = chart_bucket(days)
    try:
        current = dora_metrics(since=since, until=until, bucket=bucket, **scope)
    except DomainError as error:
        # A project or environment renamed since the form was drawn: say so, show the whole organization.
        form.add_error(error.field if error.field in form.fields else None, error.message)
        scope = {"organization": org, "project": None, "environment": None}
        current = dora_metrics(since=since, until=until, bucket=bucket, **scope)
    if wants_csv(request) and not form.errors:
        return csv_response(filename="dora-metrics.csv", header=SERIES_HEADER, rows=dora_series_rows(current))
    previous = dora_metrics(since=since - timedelta(days=days), until=since, bucket="week", **scope)
    tiles = build_tiles(current, previous, environment=scope["environment"])
    charts = build_charts(current, bucket)
    link_numbers(org, scope, since, until, tiles, charts, bucket=bucket)
    # Incidents that blame no deployment count in no number: the page says how many there are.
    unattributed = current["incidents"]["unattributed"]
    context = page_context(
        request,
        form=form,
        days=days,
        # Dates, not instants: the window is whole UTC days whatever the page's time zone.
        since=since.date(),
        until=(until - timedelta(seconds=1)).date(),
        tiles=tiles,
        charts=charts,
        unattributed=unattributed,
        unattributed_href=incidents_link(org, scope, since, until) if unattributed else "",
        per_day=bucket == "day",
        csv_query=query_without(request, "format"),
        nav="metrics",
    )
    return render(request, "metrics/dashboard.html", context, status=400 if form.errors else 200)
