"""Backfill history from a local git repository: a release per tag, optionally a deployment at its date.

Each tag becomes a release whose commits are those reachable from it and from no earlier tag (so a
commit belongs to the first release that shipped it, which is what lead time measures). With
``--environment`` each tag also gets a successful deployment at the tag's date, identified by an
external id derived from the tag: running the import again changes nothing. What to keep of a
release already recorded is ``release_import``'s rule; this command reads git (``integrations.git``).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from deployments.models import Deployment
from deployments.services import ReleaseImport, release_import
from integrations.git import Git, repository_from_remote
from releases.models import Source
from releases.selectors import commit_list
from releases.services import repository_get_or_create
from releasetracker.errors import DomainError
from releasetracker.selectors import organization_get

CREATED_BY = "import_git"


@dataclass
class Totals:
    releases_created: int = 0
    releases_present: int = 0
    commits_linked: int = 0
    deployments_created: int = 0
    deployments_present: int = 0
    skipped: int = 0

    def add(self, imported: ReleaseImport, *, deployed: bool) -> None:
        self.releases_created += imported.created
        self.releases_present += not imported.created
        self.commits_linked += imported.commits_linked
        if deployed:
            self.deployments_created += imported.deployment_created
            self.deployments_present += not imported.deployment_created


def deployment_external_id(version: str) -> str:
    external_id = f"git-tag:{version}"
    if len(external_id) > Deployment._meta.get_field("external_id").max_length:
        # A digest keeps long versions distinct.
        external_id = f"git-tag-sha1:{hashlib.sha1(version.encode()).hexdigest()}"  # noqa: S324 - an id, not a MAC
    return external_id


def _plain(text: str) -> str:
    return text


class Progress:
    """A one-line progress bar on a terminal; silent elsewhere (CI logs get the summary only).

    Drawn on stderr, which Django styles as errors (bold red) on a terminal: the bar is written
    plain, since it is not one.
    """

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
        self.stream.write(f"\r[{bar}] {done}/{self.total} {label[:40]:<40}", style_func=_plain, ending="")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("", style_func=_plain)


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
            metavar="OWNER/NAME",
            help=(
                "repository name for the commits (default: owner/name of the origin remote when it is a URL, "
                "else the clone's directory name)"
            ),
        )
        parser.add_argument(
            "--version-prefix",
            default="",
            help="prepended to each tag to make its release version (e.g. 'api@' when repositories share tag names)",
        )

    def handle(self, *args, org_slug: str, repo: str, project: str, tags: str, environment: str, **options):
        org = organization_get(slug=org_slug)
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
        origin = git.origin()
        repository, url = repository_from_remote(origin)
        guessed = False
        if options["repository"]:
            named_by = "from --repository"
            repository, url = options["repository"], url if options["repository"] == repository else ""
        elif repository:
            named_by = "from the origin remote"
        else:
            # An origin on disk (a clone of a clone, a mirror) or none: nothing says what the
            # repository is called upstream, so the name is a guess the user should see.
            guessed, repository = True, path.name
            why = f"the origin remote, {origin}, is not a URL" if origin else "there is no origin remote"
            named_by = f"the directory's name: {why}; name it with --repository OWNER/NAME"
        found = git.tags(tags)
        if not found:
            self.stdout.write(f"No tags matching '{tags}' in {path}: nothing to import.")
            return
        notice = f"Repository {repository} ({named_by})."
        self.stdout.write(notice, self.style.WARNING if guessed else None)
        try:
            repository_get_or_create(organization=org, name=repository, url=url)
        except DomainError as exc:
            raise CommandError(str(exc)) from None

        commits_before = commit_list(organization=org).count()
        totals = Totals()
        progress = Progress(self.stderr, len(found))
        for index, tag in enumerate(found):
            version = options["version_prefix"] + tag.name
            earlier = found[:index]
            try:
                imported = release_import(
                    organization=org,
                    version=version,
                    project=project,
                    repository=repository,
                    head=tag.sha,
                    ref=tag.name,
                    date=tag.date,
                    commits=git.commits(tag, earlier, repository),
                    previous=earlier[-1].sha if earlier else "",
                    environment=environment,
                    external_id=deployment_external_id(version),
                    title=f"{version} (imported from git)",
                    source=Source.IMPORT,
                    created_by=CREATED_BY,
                )
                totals.add(imported, deployed=bool(environment))
            except DomainError as exc:
                totals.skipped += 1
                if progress.enabled:
                    self.stderr.write("", style_func=_plain)  # ends the bar's line
                self.stderr.write(f"Skipped tag {tag.name}: {exc}")
            progress.update(index + 1, tag.name)
            if options["verbosity"] >= 2 and not progress.enabled:
                self.stdout.write(f"{index + 1}/{len(found)} {tag.name}")
        progress.finish()

        new_commits = commit_list(organization=org).count() - commits_before
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
