"""Small pieces the pages share: filter forms bound to the query string, pagination, durations."""

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from django import forms
from django.core.paginator import Page, Paginator
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

DEFAULT_PAGE_SIZE = 25
PAGE_SIZES = (10, 25, 50, 100)


class QueryFilterForm(forms.Form):
    """A GET filter form: empty fields mean "no filter", and bad values are shown, never a 500."""

    def __init__(self, data, *args, **kwargs):
        # Only the fields this form knows; "page" and "per_page" are handled by ``paginate``.
        data = {key: value for key, value in data.items() if key in self.base_fields and value != ""}
        super().__init__(data, *args, **kwargs)

    def filters(self) -> dict:
        """The valid, non-empty filters (invalid ones are dropped: the page shows their errors)."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: value for name, value in cleaned.items() if value not in (None, "", [])}

    def active_count(self) -> int:
        return len(self.filters())


# A day's bounds in any time zone (up to 14 hours from UTC) and the midnight after "To" must
# stay inside the years a datetime can hold, or the filter is an OverflowError (a 500).
EARLIEST_DAY, LATEST_DAY = date(1, 1, 2), date(9999, 12, 30)
_DAY_BOUNDS = [
    MinValueValidator(EARLIEST_DAY, message=f"must be on or after {EARLIEST_DAY.isoformat()}"),
    MaxValueValidator(LATEST_DAY, message=f"must be on or before {LATEST_DAY.isoformat()}"),
]


class OrgFilterForm(QueryFilterForm):
    """A filter form whose project and environment are chosen from the organization's own names."""

    project = forms.ChoiceField(required=False)
    environment = forms.ChoiceField(required=False)
    all_environments_label = "All environments"

    def __init__(self, data, *, projects: list[str], environments: list[str]):
        super().__init__(data)
        self.fields["project"].choices = [("", "All projects"), *((name, name) for name in projects)]
        self.fields["environment"].choices = [
            ("", self.all_environments_label),
            *((name, name) for name in environments),
        ]


class DateRangeMixin(forms.Form):
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=_DAY_BOUNDS
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=_DAY_BOUNDS
    )

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "must be on or after the From date")
        return cleaned

    def days_tz(self) -> tzinfo | None:
        """The time zone From and To are days of (None: the page's own, the organization's)."""
        return None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """From and To as the times they stand for: the start of From's day and the end of To's
        (exclusive), in ``days_tz()``; None where the filter is not set."""
        filters = self.filters()
        tz = self.days_tz()
        since = day_start(filters["since"], tz) if "since" in filters else None
        until = day_end(filters["until"], tz) if "until" in filters else None
        return since, until


class MetricsLinkMixin(forms.Form):
    """The two filters the metrics page's links set on a list page besides its own: every
    production environment (the metrics' default scope), and From/To read as UTC days (the days
    the metrics count) instead of the organization's, so the list holds exactly what the number
    counted. It comes before ``DateRangeMixin`` in a form's bases: its ``days_tz()`` is UTC when
    the link asks for it."""

    is_production = forms.ChoiceField(
        required=False, label="Kind", choices=[("", "Any environment"), ("1", "Production environments")]
    )
    tz = forms.ChoiceField(required=False, choices=[("UTC", "UTC")], widget=forms.HiddenInput, label="Time zone")

    def days_tz(self) -> tzinfo | None:
        return UTC if self.filters().get("tz") == "UTC" else None


def day_start(value: date, tz: tzinfo | None = None) -> datetime:
    """Midnight of ``value`` in ``tz``, by default the page's time zone (the organization's): date
    filters are whole days there, like the timeline's grouping."""
    return datetime.combine(value, time.min, tzinfo=tz or timezone.get_current_timezone())


def day_end(value: date, tz: tzinfo | None = None) -> datetime:
    """Midnight after ``value`` in ``tz`` (default: the page's time zone), so "To" includes the whole
    day (exclusive bound)."""
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=tz or timezone.get_current_timezone())


class CappedPaginator(Paginator):
    """A paginator that counts at most ``cap`` rows, so a page costs the same whatever the history.

    Counting every row is the one part of a list page whose time grows with the organization's
    history (docs/performance.md has the figures).
    Past ``cap`` the page says "10000+ in all" and its page numbers stop at
    ``cap`` rows; the date filters reach anything older.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # COUNT(*) over a LIMIT of the bare keys: at most cap + 1 index entries are read.
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @cached_property
    def num_pages(self) -> int:
        if not self.capped:
            return super().num_pages
        return max(1, self.cap // self.per_page)


def paginate(request: HttpRequest, queryset, *, default: int = DEFAULT_PAGE_SIZE) -> tuple[Page, int]:
    try:
        per_page = int(request.GET.get("per_page", default))
    except ValueError:
        per_page = default
    if per_page not in PAGE_SIZES:
        per_page = default
    paginator = CappedPaginator(queryset, per_page)
    # get_page() turns "abc", "0" and "9999" into the first or last page instead of an error.
    return paginator.get_page(request.GET.get("page")), per_page


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string without ``names`` (for pagination links that keep the filters)."""
    pairs = [(key, value) for key, values in request.GET.lists() for value in values if key not in names and value]
    return urlencode(pairs)


def humanize_seconds(seconds: float | None) -> str:
    """3725 -> "1 h 2 min"; the largest two units, so a table of durations scans easily."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
