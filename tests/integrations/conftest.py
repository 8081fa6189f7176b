"""A git repository built commit by commit, with fixed authors and dates so every run is the same."""

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "LANG": "C.UTF-8",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_COMMITTER_NAME": "CI Bot",
    "GIT_COMMITTER_EMAIL": "ci@example.com",
}


class GitRepo:
    def __init__(self, path: Path):
        self.path = path
        self.env = {**BASE_ENV, "HOME": str(path.parent)}
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, when: datetime | None = None, author: tuple[str, str] = ("Alice", "a@x.org")) -> str:
        env = {**self.env, "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
        if when is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
        done = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, message: str, *, when: datetime, author: tuple[str, str] = ("Alice", "alice@example.com")) -> str:
        self.git("commit", "-q", "--allow-empty", "-m", message, when=when, author=author)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, *, when: datetime, annotated: bool = False) -> None:
        if annotated:
            self.git("tag", "-a", name, "-m", f"Release {name}", when=when)
        else:
            self.git("tag", name, when=when)


@pytest.fixture
def git_repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    return GitRepo(path)


@pytest.fixture
def history(git_repo):
    """Three releases over a week: v1.0.0 (2 commits), v1.1.0 (2), v1.2.0 (1), then one untagged commit."""
    start = datetime.fromisoformat("2024-03-04T09:00:00+00:00")
    shas = {}
    shas["init"] = git_repo.commit("Initial commit", when=start)
    shas["login"] = git_repo.commit(
        "Add login page", when=start + timedelta(hours=3), author=("Zoë Ünal", "zoe@example.com")
    )
    git_repo.tag("v1.0.0", when=start + timedelta(hours=5), annotated=True)
    shas["fix"] = git_repo.commit('Fix "quoted" crash\n\nThe body\tline.', when=start + timedelta(days=2))
    shas["search"] = git_repo.commit("Add search", when=start + timedelta(days=2, hours=4))
    git_repo.tag("v1.1.0", when=start + timedelta(days=2, hours=6))
    shas["docs"] = git_repo.commit("Document the API", when=start + timedelta(days=5))
    git_repo.tag("v1.2.0", when=start + timedelta(days=5, hours=1), annotated=True)
    shas["wip"] = git_repo.commit("Work in progress", when=start + timedelta(days=6))
    git_repo.tag("nightly-2024-03-10", when=start + timedelta(days=6, hours=1))
    git_repo.shas = shas
    git_repo.start = start
    return git_repo
