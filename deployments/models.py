"""Environments, deployments and their status history. Writes go through ``deployments.services``."""

import uuid

from django.db import models

from releases.models import Commit, Project, Release, Source
from releasetracker.models import Organization, OrgOwned

PRODUCTION_NAMES = frozenset({"production", "prod"})


class Environment(OrgOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    is_production = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_production", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="deployments_environment_unique_name"),
            # The target of the deployments' (organization, environment) foreign key.
            models.UniqueConstraint(fields=["organization", "id"], name="deployments_environment_unique_org_id"),
        ]

    def __str__(self) -> str:
        return self.name


class DeploymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    CANCELING = "canceling", "Canceling"
    CANCELED = "canceled", "Canceled"
    UNKNOWN = "unknown", "Unknown"


FINAL_STATUSES = frozenset({DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE, DeploymentStatus.CANCELED})
STATUS_VALUES = [choice.value for choice in DeploymentStatus]


class Deployment(OrgOwned):
    # Every deployment insert updates every index on this table, so the single-column indexes
    # Django adds for foreign keys are left out where a composite index below starts with the
    # same column (organization, release) or no query filters by the column alone (environment,
    # project: every read also names the organization). Deleting an environment or a project,
    # an admin's rare action, scans instead. On PostgreSQL the environment, release and project
    # are also checked to be of the deployment's own organization (migration 0005).
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments", db_index=False)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments", db_index=False
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments", db_index=False
    )
    commit_sha = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.SUCCESS)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True, help_text="when the client says it deployed")
    # The deployment's time for metrics and the timeline: finished_at, else deployed_at, else
    # created_at. Kept by the service so metric queries read one indexed column.
    occurred_at = models.DateTimeField(editable=False)
    duration_seconds = models.FloatField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    changelog = models.TextField(max_length=65_536, blank=True)
    url = models.URLField(max_length=500, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    is_fix = models.BooleanField(default=False)
    is_hotfix = models.BooleanField(default=False)
    is_forced = models.BooleanField(default=False)
    is_rollback = models.BooleanField(default=False)
    # Whether ``is_rollback`` was detected (DESIGN.md) rather than set by the client: a detected
    # flag follows the status, so a rollback that later fails is no longer one.
    rollback_detected = models.BooleanField(default=False, editable=False)
    tags = models.JSONField(default=list, blank=True)
    triggered_by = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    member = models.CharField(max_length=200, blank=True)
    pull_request_number = models.PositiveIntegerField(null=True, blank=True)
    repository_url = models.URLField(max_length=500, blank=True)
    commits_count = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    created_by = models.CharField(max_length=200, blank=True)
    # Kept by ``deployments.outcomes`` on every write: a failed change by itself (its status, an
    # is_failure tag, a later hotfix or rollback; incidents are the metrics' to add), and the
    # first later success of its environment and project that is not one (where recovery ends).
    failed_alone = models.BooleanField(default=False, editable=False)
    next_clean = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    next_clean_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Reported by the deploy workflow itself (Aviator's sync-deploy-github-action call).
    workflow_run_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="the GitHub Actions run that deploys it"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # A CI retry with the same external id is the same deployment (idempotent create).
            models.UniqueConstraint(
                fields=["organization", "environment", "external_id"],
                condition=~models.Q(external_id=""),
                name="deployments_deployment_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=STATUS_VALUES), name="deployments_deployment_status_valid"
            ),
        ]
        indexes = [
            # Used by the metrics queries and the deployments page (per environment over time).
            # The metrics read a window's rows from the index alone (PostgreSQL).
            models.Index(
                fields=["organization", "environment", "occurred_at"],
                include=[
                    "id",
                    "project",
                    "status",
                    "is_fix",
                    "is_hotfix",
                    "failed_alone",
                    "next_clean",
                    "next_clean_at",
                ],
                name="deployments_org_env_time",
            ),
            # A stream (environment and project) in time order: the stretch the outcome upkeep
            # recomputes, which the index above could only filter by project row by row.
            models.Index(
                fields=["organization", "environment", "project", "occurred_at"], name="deployments_stream_time"
            ),
            # The metrics' failed changes of a window: the few deployments failed by themselves.
            models.Index(
                fields=["organization", "environment", "occurred_at"],
                include=["id", "project", "next_clean", "next_clean_at"],
                condition=models.Q(failed_alone=True),
                name="deployments_failed_alone",
            ),
            # Used by the API list and the metrics window scan across environments.
            models.Index(fields=["organization", "occurred_at"], name="deployments_org_time"),
            # Used by the timeline's status chips (latest deployment per release and environment),
            # and by the rollback check's search for a release's earlier deployments.
            models.Index(fields=["release", "environment", "occurred_at"], name="deployments_release_env_time"),
            # What is live where: the latest success per environment and project, one index probe
            # per cell of the environments matrix whatever else deploys to the environment.
            models.Index(
                fields=["organization", "environment", "project", "occurred_at"],
                condition=models.Q(status="success"),
                name="deployments_live",
            ),
            # The same search for a deployment named by a bare sha (no release), and the metrics'
            # "deployed before the window" test for such a sha: without it both read the
            # environment's whole history. Only deployments without a release have an entry.
            models.Index(
                fields=["organization", "environment", "commit_sha"],
                condition=models.Q(release__isnull=True),
                name="deployments_bare_sha",
            ),
        ]

    def __str__(self) -> str:
        target = self.release.version if self.release_id else self.commit_sha[:12]
        return f"{target} → {self.environment} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    # Where a deployment's status changes are loaded, in time order (``Prefetch(..., to_attr=...)``
    # in the selectors; the recording service leaves the first one there).
    HISTORY_LOADED = "history_loaded"

    @property
    def history(self) -> list["DeploymentStatusChange"]:
        """The status changes in time order: as loaded by a selector or the service, else read now."""
        loaded = self.__dict__.get(self.HISTORY_LOADED)
        if loaded is not None:
            return loaded
        return list(self.status_changes.order_by("at", "id"))


class DeploymentStatusChange(OrgOwned):
    # Read only through their deployment: the (deployment, at) index serves those reads, so the
    # foreign keys' own single-column indexes would only slow every insert.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="status_changes", db_index=False)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["deployment", "at"], name="deployments_statuschange_time")]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class FirstDeployment(OrgOwned):
    """A commit's first successful deployment in one lead-time scope.

    Lead time asks, for every commit deployed in its window, whether the commit reached the same
    scope before: answered from the deployments, that walks every release containing the commit
    on every read. These rows hold the answer for every scope the metrics can be asked for, kept
    by the deployment services in the writing transaction (``deployments.first_deployments``):
    one environment or every production environment together (``environment_key`` 0), one
    project or every project (``project_key`` 0). So a scope's lead time is one index range of
    its own rows, each already that commit's first deployment there.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    commit = models.ForeignKey(Commit, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The environment's id, or ALL (0): the organization's production environments together.
    environment_key = models.BigIntegerField()
    # The project's id, or ALL (0): every project, and deployments without one.
    project_key = models.BigIntegerField()
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="+", db_index=False)
    occurred_at = models.DateTimeField()
    # The commit's time (when the tracker first saw it, if unknown): lead time is the span to
    # ``occurred_at``, read without a join to the commits.
    committed_at = models.DateTimeField()
    # The bin of its lead time (``deployments.first_deployments.lead_bin_sql``), monotone in the
    # lead time, so exact percentiles count rows per bin and read only the bins holding the ranks
    # they need; -1 when the lead time is <= 0, which the metrics leave out. Also the database's
    # default, so a row inserted by SQL written before the column (migration 0011's fill) is valid.
    lead_bin = models.IntegerField(default=-1, db_default=-1)

    ALL = 0

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["commit", "environment_key", "project_key"], name="deployments_firstdeployment_unique_scope"
            ),
        ]
        indexes = [
            # Lead time's counts: a scope's commits first deployed in a time range, per bin (index only).
            models.Index(
                fields=["organization", "environment_key", "project_key", "occurred_at"],
                include=["committed_at", "lead_bin"],
                name="deployments_first_scope_time",
            ),
            # Lead time's percentiles: the rows of one bin of a scope in a time range, with their commit time.
            models.Index(
                fields=["organization", "environment_key", "project_key", "lead_bin", "occurred_at"],
                include=["committed_at"],
                name="deployments_first_scope_bin",
            ),
            # Rows to recompute when their deployment stops being a success.
            models.Index(fields=["deployment"], name="deployments_first_deployment"),
        ]

    def __str__(self) -> str:
        environment = "production" if self.environment_key == self.ALL else f"environment {self.environment_key}"
        project = "every project" if self.project_key == self.ALL else f"project {self.project_key}"
        return f"{self.commit_id} first in {environment}, {project} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
