"""What a chat message says about an event, before any chat service's format (``webhooks.formats``).

A ``Message`` keeps our own words (``headline``, fact labels) apart from the organization's data
(names, versions, commit messages), so each format can escape the data its own way. Messages are
built when the event is queued, inside the transaction that writes it: the delivery then holds
exactly what is posted, a retry an hour later still describes the deployment as it was, and the
delivery log shows what the channel received.
"""

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus
from deployments.selectors import deployment_commits_since_previous
from releasetracker.models import Organization
from webhooks.models import WebhookEndpoint, WebhookEvent

# A message lists at most this many commits, then "and N more".
MAX_COMMITS = 10
# A commit shows its first line up to this many characters; an author name up to this many.
COMMIT_TITLE_CHARS = 200
AUTHOR_CHARS = 100


@dataclass(frozen=True)
class CommitLine:
    sha: str  # abbreviated
    title: str  # the message's first line, shortened
    author: str
    pr_number: int | None


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Message:
    event: str
    tone: str  # "success", "failure", "rollback", "progress" or "info": each format's colour
    icon: str
    headline: str  # our words: "Deployment succeeded"
    subject: str  # data: "api 1.4.2 → production"
    facts: list[tuple[str, str]] = field(default_factory=list)  # (our label, data)
    commits_heading: str = ""  # data (it names versions); empty when no commit is listed
    commits: list[CommitLine] = field(default_factory=list)
    commits_total: int = 0
    more_url: str | None = None  # where "and N more" points
    links: list[Link] = field(default_factory=list)  # only with PUBLIC_URL
    note: str = ""  # our words, under the message
    occurred_at: datetime | None = None

    @property
    def title(self) -> str:
        return f"{self.icon} {self.headline}: {self.subject}"


def public_url(path: str) -> str | None:
    """``path`` on the address people reach this server at; None without ``PUBLIC_URL``."""
    base = getattr(settings, "PUBLIC_URL", "")
    return f"{base}{path}" if base else None


def release_page_url(organization: Organization, version: str) -> str | None:
    return public_url(f"/orgs/{organization.slug}/releases/{quote(version, safe='')}/")


def compare_page_url(organization: Organization, base: str, head: str, project: str | None) -> str | None:
    query = {"base": base, "head": head, **({"project": project} if project else {})}
    return public_url(f"/orgs/{organization.slug}/compare/?{urlencode(query)}")


def _first_line(text: str, limit: int) -> str:
    line = " ".join((text or "").strip().splitlines()[:1]).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


_EVENT_WORDS = {
    WebhookEvent.DEPLOYMENT_STARTED: ("progress", "🚀", "Deployment started"),
    WebhookEvent.DEPLOYMENT_SUCCEEDED: ("success", "✅", "Deployment succeeded"),
    WebhookEvent.DEPLOYMENT_FAILED: ("failure", "❌", "Deployment failed"),
    WebhookEvent.DEPLOYMENT_ROLLED_BACK: ("rollback", "↩️", "Deployment rolled back"),
}


def deployment_message(*, organization: Organization, deployment: Deployment, event: str) -> Message:
    """The message for one of ``CHAT_EVENTS`` about ``deployment`` (its environment, release and
    project loaded). Reads the commits it ships: three queries, whatever the history."""
    tone, icon, headline = _EVENT_WORDS[event]
    shipped = deployment_commits_since_previous(organization=organization, deployment=deployment, limit=MAX_COMMITS)
    release = deployment.release
    project = deployment.project.name if deployment.project_id else None
    version = release.version if release is not None else deployment.commit_sha[:7]
    previous = shipped.previous
    previous_version = None
    if previous is not None:
        previous_version = previous.release.version if previous.release_id else previous.commit_sha[:7]

    facts = [("Project", project)] if project else []
    facts += [
        ("Version" if release is not None else "Commit", version),
        ("Environment", deployment.environment.name),
        ("Status", DeploymentStatus(deployment.status).label),
    ]
    if duration := _duration(deployment.duration_seconds):
        facts.append(("Duration", duration))
    if who := deployment.triggered_by or deployment.member:
        facts.append(("Triggered by", who))
    if deployment.is_rollback and previous_version and previous_version != version:
        facts.append(("Rolled back from", previous_version))

    links = []
    release_url = release_page_url(organization, release.version) if release is not None else None
    if release_url:
        links.append(Link(f"Release {version}", release_url))
    compare_url = None
    if release is not None and previous is not None and previous.release_id and previous_version != version:
        # A rollback's compare shows what it took out: from the release put back to the one replaced.
        base, head = (version, previous_version) if deployment.is_rollback else (previous_version, version)
        compare_url = compare_page_url(organization, base, head, project)
        if compare_url:
            links.append(Link(f"Compare {base}…{head}", compare_url))

    heading = ""
    if shipped.total:
        if previous_version and previous_version != version:
            heading = f"{_plural(shipped.total, 'commit')} since {previous_version}"
        else:
            heading = _plural(shipped.total, "commit")
    return Message(
        event=event,
        tone=tone,
        icon=icon,
        headline=headline,
        subject=" ".join(filter(None, [project, version])) + f" → {deployment.environment.name}",
        facts=facts,
        commits_heading=heading,
        commits=[
            CommitLine(
                sha=commit.short_sha,
                title=_first_line(commit.message, COMMIT_TITLE_CHARS),
                author=_first_line(commit.author_name, AUTHOR_CHARS),
                pr_number=commit.pr_number,
            )
            for commit in shipped.commits
        ],
        commits_total=shipped.total,
        more_url=compare_url or release_url,
        links=links,
        occurred_at=deployment.occurred_at,
    )


def endpoint_test_message(*, organization: Organization, endpoint: WebhookEndpoint) -> Message:
    """What "send test message" posts: what this channel will hear about, and whether links are on."""
    settings_url = public_url(f"/orgs/{organization.slug}/settings/webhooks/")
    return Message(
        event=WebhookEvent.TEST,
        tone="info",
        icon="🔔",
        headline="Test message from Release Tracker",
        subject=organization.name,
        facts=[
            ("Events", ", ".join(endpoint.events)),
            ("Project", endpoint.project.name if endpoint.project_id else "all"),
            ("Environment", endpoint.environment.name if endpoint.environment_id else "all"),
        ],
        links=[Link("Webhook settings", settings_url)] if settings_url else [],
        note="" if settings_url else "PUBLIC_URL is not set on the server: messages carry no links.",
        occurred_at=timezone.now(),
    )
