"""Template filters for the pages: durations, short shas, commit and workflow run links."""

import re
from datetime import UTC
from urllib.parse import quote, urlencode

from django import template
from django.urls import reverse

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
    day = deployment.occurred_at.astimezone(UTC).date().isoformat()
    query = urlencode({"environment": deployment.environment.name, "since": day, "until": day})
    return reverse("deployments:list", kwargs={"org_slug": org.slug}) + f"?{query}{anchor}"
