"""Projects, repositories, commits and releases. Writes go through ``releases.services``."""

import uuid

from django.db import models

from releasetracker.models import OrgOwned


class Source(models.TextChoices):
    """Which entry point created a row: shown on the release page, useful when numbers disagree."""

    API = "api", "Native API"
    ADMIN = "admin", "Admin"
    ECHOES = "echoes", "Echoes API"
    AVIATOR = "aviator", "Aviator API"
    IFTRUE = "iftrue", "iftrue API"
    MULTITUDES = "multitudes", "Multitudes API"
    SENTRY = "sentry", "Sentry API"
    GITHUB = "github", "GitHub webhook"
    IMPORT = "import", "Git import"
    DEMO = "demo", "Demo data"


class Project(OrgOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="releases_project_unique_name"),
            # The target of the deployments' (organization, project) foreign key: a deployment's
            # project is one of its own organization's.
            models.UniqueConstraint(fields=["organization", "id"], name="releases_project_unique_org_id"),
        ]

    def __str__(self) -> str:
        return self.name


class Repository(OrgOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, help_text="owner/repo")
    url = models.URLField(max_length=500, blank=True)
    provider = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="releases_repository_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Commit(OrgOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sha = models.CharField(max_length=64)
    repository = models.ForeignKey(Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(max_length=65_536, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    author_email = models.CharField(max_length=254, blank=True)
    # When the commit was authored; unknown for bare shas. Lead time then uses created_at,
    # the time the tracker first saw the commit.
    timestamp = models.DateTimeField(null=True, blank=True)
    pr_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "sha"], name="releases_commit_unique_sha"),
            models.CheckConstraint(condition=models.Q(sha__regex=r"^[0-9a-f]{7,64}$"), name="releases_commit_sha_hex"),
        ]

    def __str__(self) -> str:
        return self.sha[:12]

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


class Release(OrgOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    ref = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=500, blank=True)
    date_released = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Sentry's "archived" release status (``sentry-cli releases archive``): hidden from Sentry's
    # release lists, shown with a mark everywhere else; its deployments still count in the metrics.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    created_by = models.CharField(max_length=200, blank=True, help_text="token or user that created it")
    # Reported by the build workflow itself (Aviator's sync-build-github-action call).
    workflow_run_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="the GitHub Actions run that builds it"
    )
    # The normalized create payload: a repeat is compared with it (303 when equal, 409 naming
    # the fields that differ).
    create_payload = models.JSONField(default=dict, blank=True, editable=False)
    projects = models.ManyToManyField(Project, through="ReleaseProject", related_name="releases")
    commits = models.ManyToManyField(Commit, through="ReleaseCommit", related_name="releases")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "version"], name="releases_release_unique_version"),
            # The target of the deployments' (organization, release) foreign key.
            models.UniqueConstraint(fields=["organization", "id"], name="releases_release_unique_org_id"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "success", "failure"]), name="releases_release_status_valid"
            ),
        ]
        indexes = [
            # Used by the timeline and the API list (newest first within an organization).
            models.Index(fields=["organization", "-created_at", "-id"], name="releases_release_org_created"),
        ]

    def __str__(self) -> str:
        return self.version

    # Release candidates (Aviator's ``X-rcN``) are unique per project, versions per organization:
    # a candidate is stored as "<project>@<version>" (Sentry's package@version convention), so two
    # projects' 3.1.0-rc1 are two releases, and its name is the version as its project calls it.

    @staticmethod
    def candidate_key(project: str, version: str) -> str:
        """The version release candidate ``version`` of ``project`` is stored under."""
        return f"{project}@{version}"

    def candidate_version(self, project: str) -> str:
        """This release's version as a candidate of ``project``: without the ``<project>@`` prefix
        when it is stored under one (a release recorded elsewhere keeps its version as it is)."""
        return self.version.removeprefix(f"{project}@") if project else self.version

    # Where the selectors leave what a release's pages and answers show, each a plain list
    # (``Prefetch(..., to_attr=...)``): ``release_list`` its projects, ``release_detail`` its
    # commits, refs and deployments. ``release_create`` leaves there what it wrote, so a new
    # release is answered without reading it back.
    PROJECTS_LOADED = "projects_loaded"
    COMMIT_LINKS_LOADED = "commit_links_loaded"
    REFS_LOADED = "refs_loaded"
    DEPLOYMENTS_LOADED = "deployments_loaded"

    def _loaded(self, name: str, read) -> list:
        loaded = self.__dict__.get(name)
        return loaded if loaded is not None else read()

    @property
    def projects_by_name(self) -> list[Project]:
        """The release's projects ordered by name.

        Loaded into a plain list rather than into each row's ``projects`` manager, which
        Django's M2M prefetch builds, with a filtered queryset, for every row of a page.
        """
        return self._loaded(self.PROJECTS_LOADED, lambda: list(self.projects.order_by("name")))

    @property
    def commit_links(self) -> list["ReleaseCommit"]:
        """The release's commits in their order, each link with its commit and repository."""
        return self._loaded(
            self.COMMIT_LINKS_LOADED,
            lambda: list(self.release_commits.select_related("commit__repository").order_by("position", "id")),
        )

    @property
    def ref_list(self) -> list["ReleaseRef"]:
        return self._loaded(self.REFS_LOADED, lambda: list(self.refs.select_related("repository")))

    @property
    def deployments_newest_first(self) -> list:
        """The release's deployments, newest first, with their environment, release and project."""
        return self._loaded(
            self.DEPLOYMENTS_LOADED,
            lambda: list(
                self.deployments.select_related("environment", "release", "project").order_by("-occurred_at", "-id")
            ),
        )


class ReleaseProject(OrgOwned):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="release_projects")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="release_projects")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "project"], name="releases_releaseproject_unique"),
        ]


class ReleaseCommit(OrgOwned):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="release_commits")
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="release_commits")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "commit"], name="releases_releasecommit_unique"),
        ]


class ReleaseRef(OrgOwned):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="refs")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    commit = models.CharField(max_length=64)
    previous_commit = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["release", "repository"], name="releases_releaseref_unique_repository"),
        ]
