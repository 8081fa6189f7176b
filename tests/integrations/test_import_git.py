"""import_git: a release per tag with its commits, a deployment at the tag's date, and a re-run that changes nothing."""

import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from deployments.models import Deployment, DeploymentStatusChange
from integrations.git import repository_from_remote
from integrations.management.commands.import_git import Command as ImportGit
from releases.models import Commit, Release, ReleaseCommit, Repository
from releases.services import CommitInput, release_create


def import_git(repo, *args: str, stderr=None) -> str:
    out = io.StringIO()
    call_command(
        "import_git", "acme", str(repo.path), "--project", "web", *args, stdout=out, stderr=stderr or io.StringIO()
    )
    return out.getvalue()


def shas(release: Release) -> set[str]:
    return {c.sha for c in release.commits.all()}


def snapshot(org) -> dict:
    """Every row the import writes, with its last change time: a re-run must leave this equal."""
    return {
        "releases": sorted(Release.objects.for_organization(org).values_list("pk", "updated_at", "status")),
        "commits": sorted(Commit.objects.for_organization(org).values_list("pk", "updated_at")),
        "links": sorted(ReleaseCommit.objects.for_organization(org).values_list("pk", "release_id", "commit_id")),
        "deployments": sorted(Deployment.objects.for_organization(org).values_list("pk", "updated_at", "status")),
        "history": sorted(DeploymentStatusChange.objects.for_organization(org).values_list("pk", "at")),
        "repositories": sorted(Repository.objects.for_organization(org).values_list("pk", "updated_at")),
    }


def test_it_creates_a_release_per_tag_with_the_commits_since_the_previous_tag(org, history):
    history.git("remote", "add", "origin", "git@github.com:acme/web.git")

    output = import_git(history, "--tags", "v*", "--environment", "production")

    assert "3 release(s) created" in output
    releases = {r.version: r for r in Release.objects.for_organization(org)}
    assert set(releases) == {"v1.0.0", "v1.1.0", "v1.2.0"}  # the nightly tag does not match v*
    assert shas(releases["v1.0.0"]) == {history.shas["init"], history.shas["login"]}
    assert shas(releases["v1.1.0"]) == {history.shas["fix"], history.shas["search"]}
    assert shas(releases["v1.2.0"]) == {history.shas["docs"]}

    login = Commit.objects.select_related("repository").get(sha=history.shas["login"])
    assert login.author_name == "Zoë Ünal"
    assert login.author_email == "zoe@example.com"
    assert login.message == "Add login page"
    assert login.timestamp == history.start + timedelta(hours=3)
    assert login.repository.name == "acme/web"
    assert login.repository.url == "https://github.com/acme/web"
    assert Commit.objects.get(sha=history.shas["fix"]).message == 'Fix "quoted" crash\n\nThe body\tline.'

    v100 = releases["v1.0.0"]
    tagged_at = history.start + timedelta(hours=5)  # the annotated tag's own date
    assert v100.date_released == tagged_at
    assert v100.created_at == tagged_at  # so the timeline shows it on its day
    assert v100.source == "import"
    assert [p.name for p in v100.projects.all()] == ["web"]


def test_each_tag_is_deployed_to_the_environment_at_its_date(org, history):
    import_git(history, "--tags", "v*", "--environment", "production")

    deployments = list(
        Deployment.objects.for_organization(org).select_related("release", "environment").order_by("occurred_at")
    )
    assert [d.release.version for d in deployments] == ["v1.0.0", "v1.1.0", "v1.2.0"]
    assert all(d.status == "success" and d.environment.is_production for d in deployments)
    assert deployments[0].occurred_at == history.start + timedelta(hours=5)
    # A lightweight tag has the date of the commit it names.
    assert deployments[1].occurred_at == history.start + timedelta(days=2, hours=4)
    assert deployments[1].external_id == "git-tag:v1.1.0"
    assert not any(d.is_rollback for d in deployments)
    # Every commit of an annotated tag now has a lead time: its deployment's time minus its own.
    v100 = deployments[0]
    assert all(c.timestamp < v100.occurred_at for c in v100.release.commits.all())


def test_a_second_run_changes_nothing(org, history):
    import_git(history, "--environment", "production")
    before = snapshot(org)

    output = import_git(history, "--environment", "production")

    assert snapshot(org) == before
    assert "0 release(s) created, 4 already present; 0 new commit(s), 0 commit link(s) added" in output
    assert "0 deployment(s) to production created, 4 already present" in output


def test_without_an_environment_it_records_no_deployment(org, history):
    import_git(history)
    assert Release.objects.count() == 4
    assert Deployment.objects.count() == 0


def test_a_later_run_adds_only_the_new_tags(org, history):
    import_git(history, "--tags", "v*")
    history.commit("Add export", when=history.start + timedelta(days=7))
    history.tag("v1.3.0", when=history.start + timedelta(days=7, hours=1))

    output = import_git(history, "--tags", "v*")

    assert "1 release(s) created, 3 already present" in output
    # The untagged commit before it ships in v1.3.0, with the new one.
    assert len(shas(Release.objects.get(version="v1.3.0"))) == 2


def test_a_release_already_reported_by_ci_is_kept_and_completed(org, history):
    release_create(organization=org, version="v1.1.0", projects=["web"], commits=[CommitInput(sha=history.shas["fix"])])

    output = import_git(history, "--tags", "v*")

    assert "2 release(s) created, 1 already present" in output
    release = Release.objects.get(version="v1.1.0")
    assert shas(release) == {history.shas["fix"], history.shas["search"]}
    assert release.source == "api"  # kept as CI reported it
    # The commit CI sent bare gains its author and time from git.
    assert Commit.objects.get(sha=history.shas["fix"]).timestamp == datetime(2024, 3, 6, 9, 0, tzinfo=UTC)


def test_a_version_prefix_keeps_repositories_with_the_same_tags_apart(org, history):
    import_git(history, "--tags", "v1.0.0", "--version-prefix", "web@")
    assert list(Release.objects.values_list("version", "ref")) == [("web@v1.0.0", "v1.0.0")]


def test_a_releases_ref_is_its_tag_and_its_refs_hold_the_commits(org, history):
    history.git("remote", "add", "origin", "git@github.com:acme/web.git")

    import_git(history, "--tags", "v*")

    releases = {r.version: r for r in Release.objects.for_organization(org).prefetch_related("refs__repository")}
    assert {version: release.ref for version, release in releases.items()} == {
        "v1.0.0": "v1.0.0",
        "v1.1.0": "v1.1.0",
        "v1.2.0": "v1.2.0",
    }
    ref = releases["v1.1.0"].refs.get()
    # The annotated tag v1.0.0 is peeled to its commit: the refs hold commits, never tag objects.
    assert (ref.repository.name, ref.commit, ref.previous_commit) == (
        "acme/web",
        history.shas["search"],
        history.shas["login"],
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_it_draws_a_progress_bar_on_a_terminal_only(org, history):
    terminal, pipe = Terminal(), io.StringIO()
    import_git(history, stderr=terminal)
    import_git(history, stderr=pipe)
    assert "\r[" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_the_progress_bar_is_drawn_plain_not_in_the_error_style(org, history):
    # As manage.py runs it: stderr is the command's own, styled as errors on a colour terminal.
    terminal = Terminal()
    command = ImportGit(stdout=Terminal(), stderr=terminal, force_color=True)
    assert command.stderr.style_func("x") != "x"  # what an error would look like here

    call_command(command, "acme", str(history.path), "--project", "web")

    assert "\r[" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert "\x1b[" not in terminal.getvalue()


def test_it_names_what_is_wrong_with_its_arguments(org, history, tmp_path):
    with pytest.raises(CommandError, match="no organization with slug 'nope'"):
        call_command("import_git", "nope", str(history.path), "--project", "web")
    with pytest.raises(CommandError, match="is not a git repository"):
        call_command("import_git", "acme", str(tmp_path), "--project", "web")
    assert "nothing to import" in import_git(history, "--tags", "release-*")


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("git@github.com:acme/web.git", ("acme/web", "https://github.com/acme/web")),
        ("https://github.com/acme/web.git", ("acme/web", "https://github.com/acme/web")),
        ("https://gitlab.example.com/group/sub/web", ("group/sub/web", "https://gitlab.example.com/group/sub/web")),
        ("ssh://git@github.com:22/acme/web.git", ("acme/web", "https://github.com/acme/web")),
        ("/srv/git/web.git", ("", "")),
        ("", ("", "")),
    ],
)
def test_the_repository_name_comes_from_the_origin_remote(remote, expected):
    assert repository_from_remote(remote) == expected


def test_it_says_which_repository_name_it_uses_and_where_from(org, history):
    history.git("remote", "add", "origin", "https://github.com/acme/web.git")

    output = import_git(history, "--tags", "v1.0.0")

    assert "Repository acme/web (from the origin remote)." in output


def test_an_origin_on_disk_names_the_repository_after_the_directory_and_says_so(org, history, tmp_path):
    clone = tmp_path / "clone"
    history.git("clone", "-q", str(history.path), str(clone))

    output = import_git(SimpleNamespace(path=clone), "--tags", "v1.0.0")

    assert (
        f"Repository clone (the directory's name: the origin remote, {history.path}, is not a URL; "
        "name it with --repository OWNER/NAME)." in output
    )
    assert Commit.objects.get(sha=history.shas["init"]).repository.name == "clone"


def test_repository_names_the_repository_whatever_the_origin(org, history):
    output = import_git(history, "--tags", "v1.0.0", "--repository", "acme/web")

    assert "Repository acme/web (from --repository)." in output
    assert Commit.objects.get(sha=history.shas["init"]).repository.name == "acme/web"


def test_a_tag_the_tracker_cannot_take_is_skipped_and_named_while_the_others_import(org, history):
    # A clock far in the future: the commit keeps no time, the tag's release is refused and named.
    future = datetime(2099, 1, 1, tzinfo=UTC)
    history.commit("From a broken clock", when=future)
    history.tag("v9.0.0", when=future, annotated=True)
    errors = io.StringIO()

    output = import_git(history, "--tags", "v*", stderr=errors)

    assert "Skipped tag v9.0.0: date_released: is more than a day in the future" in errors.getvalue()
    assert "3 release(s) created" in output and "1 tag(s) skipped" in output
    assert not Release.objects.filter(version="v9.0.0").exists()
