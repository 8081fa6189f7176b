"""Template filters for the pages: durations, short shas, commit and workflow run links."""

import re
from urllib.parse import quote

from django import template

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
