"""A local git repository read for the importer (``manage.py import_git``): tags, commits, origin.

Read with the ``git`` executable as a subprocess, so any repository git can read will do.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path

from django.core.management.base import CommandError

from releases.models import Commit
from releases.services import CommitInput
from releasetracker.errors import DomainError
from releasetracker.validation import clean_time

# Field separators git never puts in names, emails or ISO dates (\x1e ends a commit).
FS, RS = "\x1f", "\x1e"


@dataclass
class Tag:
    name: str
    sha: str
    date: datetime


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
                    message=_kept(message, "message"),
                    author_name=_kept(name, "author_name"),
                    author_email=_kept(email, "author_email"),
                    timestamp=_commit_time(when),
                )
            )
        return commits

    def origin(self) -> str:
        try:
            return self.run("remote", "get-url", "origin").strip()
        except CommandError:
            return ""


def _kept(text: str, name: str) -> str:
    """Git takes any length; the tracker keeps what the commit's field holds rather than refuse a tag."""
    return text.strip()[: Commit._meta.get_field(name).max_length]


def _commit_time(value: str) -> datetime | None:
    """The author time, or None where the service would refuse it (a clock far in the future, pre-1970)."""
    try:
        return clean_time(datetime.fromisoformat(value), field="timestamp")
    except (ValueError, DomainError):
        return None


_SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):(.+?)(?:\.git)?/?$")
_URL = re.compile(r"^(?:https?|ssh|git)://(?:[^@/]+@)?([^/:]+)(?::\d+)?/(.+?)(?:\.git)?/?$")


def repository_from_remote(remote: str) -> tuple[str, str]:
    """``owner/repo`` and a web URL from an origin remote that is a URL; ``("", "")`` for a local
    path or no remote, which name no repository."""
    match = _SCP_LIKE.match(remote) or _URL.match(remote)
    if match is None:
        return "", ""
    host, name = match.groups()
    return name, f"https://{host}/{name}"
