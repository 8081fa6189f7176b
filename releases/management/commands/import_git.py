"""Backfill history from a local git repository: a release per tag, optionally a deployment at its date.

Each tag becomes a release whose commits are those reachable from it and from no earlier tag (so a
commit belongs to the first release that shipped it, which is what lead time measures). With
``--environment`` each tag also gets a successful deployment at the tag's date, identified by an
external id derived from the tag: running the import again changes nothing.
"""

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import transaction

from deployments.models import DeploymentStatus
from deployments.services import deployment_record
from releases.models import Commit, Release, ReleaseCommit, Source
from releases.services import (
    MAX_COMMITS_PER_REQUEST,
    CommitInput,
    RefInput,
    commits_record,
    release_add_commits,
    release_create,
    repository_get_or_create,
)
from releasetracker.errors import Conflict, DomainError
from releasetracker.models import Organization
from releasetracker.validation import clean_time

CREATED_BY = "import_git"
# Field separators git never puts in names, emails or ISO dates (\x1e ends a commit).
FS, RS = "\x1f", "\x1e"


@dataclass
class Tag:
    name: str
    sha: str
    date: datetime


@dataclass
class Totals:
    releases_created: int = 0
    releases_present: int = 0
    commits_linked: int = 0
    deployments_created: int = 0
    deployments_present: int = 0
    skipped: int = 0


class Git:
    def __init__(self, path: Path):
        self.path = path

    def run(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *args],
                input=stdin.encode() if stdin is not None else None,
                capture_output=True,
                check=False,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            )
        except FileNotFoundError:
            raise CommandError("git is not installed (it is run as a subprocess)") from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
            raise CommandError(f"git {args[0]} failed in {self.path}: {message}")
        # Old repositories may hold messages in legacy encodings: keep them readable, never fail.
        return done.stdout.decode("utf-8", errors="replace")

    def tags(self, pattern: str) -> list[Tag]:
        # Oldest first by tag date (tagger date, or the commit date of a lightweight tag); the
        # version order settles ties, so tags made in the same second keep a stable order.
        out = self.run(
            "for-each-ref",
            "--sort=version:refname",
            "--sort=creatordate",
            f"--format=%(refname:strip=2){FS}%(objecttype){FS}%(objectname){FS}%(*objecttype){FS}"
            f"%(*objectname){FS}%(creatordate:iso-strict)",
            "refs/tags/",
        )
        tags = []
        for line in out.splitlines():
            name, kind, sha, peeled_kind, peeled_sha, date = line.split(FS)
            if not fnmatchcase(name, pattern):
                continue
            if kind == "tag":  # annotated: the commit is the tag's target
                kind, sha = peeled_kind, peeled_sha
            if kind != "commit":
                continue  # a tag of a tree or blob names no release
            tags.append(Tag(name=name, sha=sha, date=datetime.fromisoformat(date)))
        return tags

    def commits(self, tag: Tag, earlier: list[Tag], repository: str) -> list[CommitInput]:
        revisions = "\n".join([tag.sha, *(f"^{t.sha}" for t in earlier)]) + "\n"
        out = self.run("log", "--stdin", "--no-color", f"--format=%H{FS}%an{FS}%ae{FS}%aI{FS}%B{RS}", stdin=revisions)
        commits = []
        for record in out.split(RS):
            record = record.lstrip("\n")
            if not record:
                continue
            sha, name, email, when, message = record.split(FS, 4)
            commits.append(
                CommitInput(
                    sha=sha,
                    repository=repository,
                    message=message.strip()[:65_536],
                    author_name=name.strip()[:200],
                    author_email=email.strip()[:254],
                    timestamp=_commit_time(when),
                )
            )
        return commits

    def origin(self) -> str:
        try:
            return self.run("remote", "get-url", "origin").strip()
        except CommandError:
            return ""


def _commit_time(value: str) -> datetime | None:
    """The author time, or None where the service would refuse it (a clock far in the future, pre-1970)."""
    try:
        return clean_time(datetime.fromisoformat(value), field="timestamp")
    except (ValueError, DomainError):
        return None


_SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):(.+?)(?:\.git)?/?$")
_URL = re.compile(r"^(?:https?|ssh|git)://(?:[^@/]+@)?([^/:]+)(?::\d+)?/(.+?)(?:\.git)?/?$")


def repository_from_remote(remote: str, fallback: str) -> tuple[str, str]:
    """``owner/repo`` and a web URL from an origin remote; a local path or nothing gives ``fallback``."""
    match = _SCP_LIKE.match(remote) or _URL.match(remote)
    if match is None:
        return fallback, ""
    host, name = match.groups()
    return name, f"https://{host}/{name}"


def deployment_external_id(version: str) -> str:
    external_id = f"git-tag:{version}"
    if len(external_id) > 200:  # the column's size; a digest keeps long versions distinct
        external_id = f"git-tag-sha1:{hashlib.sha1(version.encode()).hexdigest()}"  # noqa: S324 - an id, not a MAC
    return external_id


class Progress:
    """A one-line progress bar on a terminal; silent elsewhere (CI logs get the summary only)."""

    WIDTH = 30

    def __init__(self, stream: OutputWrapper, total: int):
        self.stream = stream
        self.total = total
        self.enabled = stream.isatty() and total > 0

    def update(self, done: int, label: str) -> None:
        if not self.enabled:
            return
        filled = self.WIDTH * done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} {label[:40]:<40}", ending="")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("")


class Command(BaseCommand):
    help = (
        "Create a release per git tag (with its commits) and optionally a deployment at the tag's date, "
        "so DORA metrics have history. Safe to run again: what exists is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("org_slug", metavar="ORG_SLUG")
        parser.add_argument("repo", metavar="PATH", help="a local clone of the repository, with its tags")
        parser.add_argument("--project", required=True, help="the project the releases belong to")
        parser.add_argument("--tags", default="*", metavar="GLOB", help="which tags to import (default: all)")
        parser.add_argument(
            "--environment",
            default="",
            help="also record a successful deployment to this environment at each tag's date (e.g. production)",
        )
        parser.add_argument(
            "--repository",
            default="",
            help="repository name for the commits (default: owner/repo of the origin remote, else the directory name)",
        )
        parser.add_argument(
            "--version-prefix",
            default="",
            help="prepended to each tag to make its release version (e.g. 'api@' when repositories share tag names)",
        )

    def handle(self, *args, org_slug: str, repo: str, project: str, tags: str, environment: str, **options):
        org = Organization.objects.filter(slug=org_slug.strip().lower()).first()
        if org is None:
            raise CommandError(f"no organization with slug '{org_slug}'")
        path = Path(repo).expanduser().resolve()
        if not path.is_dir():
            raise CommandError(f"{repo}: no such directory")
        git = Git(path)
        try:
            git.run("rev-parse", "--git-dir")
        except CommandError:
            raise CommandError(f"{repo} is not a git repository") from None
        repository, url = repository_from_remote(git.origin(), path.name)
        if options["repository"]:
            repository, url = options["repository"], url if options["repository"] == repository else ""
        found = git.tags(tags)
        if not found:
            self.stdout.write(f"No tags matching '{tags}' in {path}: nothing to import.")
            return
        try:
            repository_get_or_create(organization=org, name=repository, url=url)
        except DomainError as exc:
            raise CommandError(str(exc)) from None

        commits_before = Commit.objects.for_organization(org).count()
        totals = Totals()
        progress = Progress(self.stderr, len(found))
        for index, tag in enumerate(found):
            version = options["version_prefix"] + tag.name
            try:
                self._import_tag(
                    org=org,
                    git=git,
                    tag=tag,
                    earlier=found[:index],
                    version=version,
                    project=project,
                    repository=repository,
                    environment=environment,
                    totals=totals,
                )
            except DomainError as exc:
                totals.skipped += 1
                if progress.enabled:
                    self.stderr.write("")
                self.stderr.write(f"Skipped tag {tag.name}: {exc}")
            progress.update(index + 1, tag.name)
            if options["verbosity"] >= 2 and not progress.enabled:
                self.stdout.write(f"{index + 1}/{len(found)} {tag.name}")
        progress.finish()

        new_commits = Commit.objects.for_organization(org).count() - commits_before
        summary = (
            f"{len(found)} tag(s) from {path}: {totals.releases_created} release(s) created, "
            f"{totals.releases_present} already present; {new_commits} new commit(s), "
            f"{totals.commits_linked} commit link(s) added"
        )
        if environment:
            summary += (
                f"; {totals.deployments_created} deployment(s) to {environment} created, "
                f"{totals.deployments_present} already present"
            )
        if totals.skipped:
            summary += f"; {totals.skipped} tag(s) skipped (see above)"
        self.stdout.write(summary + ".")

    @transaction.atomic
    def _import_tag(
        self,
        *,
        org: Organization,
        git: Git,
        tag: Tag,
        earlier: list[Tag],
        version: str,
        project: str,
        repository: str,
        environment: str,
        totals: Totals,
    ) -> None:
        commits = git.commits(tag, earlier, repository)
        previous = earlier[-1].sha if earlier else ""
        try:
            release, created = release_create(
                organization=org,
                version=version,
                projects=[project],
                commits=commits[:MAX_COMMITS_PER_REQUEST],
                ref=tag.sha,
                date_released=tag.date,
                refs=[RefInput(repository=repository, commit=tag.sha, previous_commit=previous)],
                status=Release.Status.SUCCESS,
                source=Source.IMPORT,
                created_by=CREATED_BY,
                created_at=tag.date,
            )
        except Conflict:
            # Reported earlier by CI (or by an import with other tags): keep it, add what it lacks.
            release, created = Release.objects.for_organization(org).get(version=version), False
        if created:
            totals.releases_created += 1
            totals.commits_linked += min(len(commits), MAX_COMMITS_PER_REQUEST)
        else:
            totals.releases_present += 1
            # Commits that release knew only by sha gain their author, time and message from git.
            for start in range(0, len(commits), MAX_COMMITS_PER_REQUEST):
                commits_record(organization=org, commits=commits[start : start + MAX_COMMITS_PER_REQUEST])
        linked = set(
            ReleaseCommit.objects.for_organization(org).filter(release=release).values_list("commit__sha", flat=True)
        )
        missing = [c for c in commits if c.sha not in linked]
        for start in range(0, len(missing), MAX_COMMITS_PER_REQUEST):
            chunk = missing[start : start + MAX_COMMITS_PER_REQUEST]
            release_add_commits(organization=org, release=release, commits=chunk)
            totals.commits_linked += len(chunk)

        if environment:
            _, created = deployment_record(
                organization=org,
                environment=environment,
                release=release,
                project=project,
                commit_sha=tag.sha,
                status=DeploymentStatus.SUCCESS,
                finished_at=tag.date,
                external_id=deployment_external_id(version),
                title=f"{version} (imported from git)",
                source=Source.IMPORT,
                created_by=CREATED_BY,
            )
            if created:
                totals.deployments_created += 1
            else:
                totals.deployments_present += 1
