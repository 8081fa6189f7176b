"""Template filters for the pages: durations, short shas, commit and workflow run links."""

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime

from releasetracker.page_helpers import humanize_seconds

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    return humanize_seconds(seconds)


@register.filter
def short_sha(sha: str) -> str:
    return (sha or "")[:7]


@register.filter
def commit_url(commit) -> str:
    """The commit's page on its host when the repository's URL is known (GitHub, GitLab, Gitea: /commit/<sha>)."""
    repository = getattr(commit, "repository", None)
    if repository is None or not repository.url:
        return ""
    if not repository.url.startswith(("https://", "http://")):
        return ""  # never render a javascript: or other scheme as a link
    return f"{repository.url.rstrip('/')}/commit/{commit.sha}"


@register.filter
def first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


@register.filter
def http_url(url: str) -> str:
    """``url`` if it is http(s), else "": stored URLs come from API clients and must not become javascript: links."""
    url = (url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) else ""


OWNER_REPO = re.compile(r"^[^/\s]+/[^/\s]+$")


@register.filter
def actions_run_url(run_id, repository) -> str:
    """The GitHub Actions run's page when its repository is known: under the repository's URL (a
    GitHub Enterprise host keeps its own), else under github.com by its ``owner/repo`` name."""
    if not run_id or repository is None:
        return ""
    base = http_url(repository.url)
    if not base and OWNER_REPO.match(repository.name):
        base = f"https://github.com/{quote(repository.name)}"
    return f"{base.rstrip('/')}/actions/runs/{run_id}" if base else ""


@register.simple_tag
def deployment_url(org, deployment) -> str:
    """Where a deployment is shown: on its release's page, else (a bare sha) in the deployments view
    filtered to its environment and day; either way at its row's anchor."""
    anchor = f"#deployment-{deployment.public_id}"
    if deployment.release_id:
        return reverse("releases:detail", kwargs={"org_slug": org.slug, "key": deployment.release.public_id}) + anchor
    # The deployments view reads its dates as days of the page's time zone.
    day = localtime(deployment.occurred_at).date().isoformat()
    query = urlencode({"environment": deployment.environment.name, "since": day, "until": day})
    return reverse("deployments:list", kwargs={"org_slug": org.slug}) + f"?{query}{anchor}"


@register.filter
def pull_request_url(commit) -> str:
    """The commit's pull request on its host when the repository's URL is known: GitLab's merge
    request path on a GitLab host, else the /pull/<n> path GitHub and Gitea share."""
    number = getattr(commit, "pr_number", None)
    repository = getattr(commit, "repository", None)
    base = http_url(repository.url) if repository is not None and number else ""
    if not base:
        return ""
    path = "-/merge_requests" if "gitlab" in base.split("/")[2].lower() else "pull"
    return f"{base.rstrip('/')}/{path}/{number}"


# Times -------------------------------------------------------------------------------------------
# Pages show times in the organization's time zone (activated by ``org_page``); each <time> keeps
# the exact instant in its datetime attribute and shows UTC on hover.


def _utc_title(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@register.simple_tag
def when(value: datetime | None, fmt: str = "Y-m-d H:i") -> str:
    """``<time>`` in the current time zone, with the UTC time as its title."""
    if value is None:
        return ""
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.astimezone(UTC).isoformat(),
        _utc_title(value),
        date_format(localtime(value), fmt),
    )


def ago_text(value: datetime, now: datetime) -> str:
    """How long ago, in the largest unit: "just now", "5 min ago", "2 h ago", "3 d ago"."""
    seconds = int((now - value).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 86400 * 60:
        return f"{seconds // 86400} d ago"
    return date_format(localtime(value), "Y-m-d")


@register.simple_tag
def ago(value: datetime | None) -> str:
    """ "2 h ago" where recency matters; the local and UTC times on hover."""
    if value is None:
        return ""
    local = date_format(localtime(value), "Y-m-d H:i T")
    return format_html(
        '<time datetime="{}" title="{} ({})">{}</time>',
        value.astimezone(UTC).isoformat(),
        local,
        _utc_title(value),
        ago_text(value, timezone.now()),
    )


@register.simple_tag
def zone_name() -> str:
    """The current time zone's name, for labels such as "Time (Europe/Paris)"."""
    return timezone.get_current_timezone_name()
