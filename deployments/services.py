"""Writes for environments, deployments and their status history.

Every entry point records deployments through ``deployment_record`` and changes their status
through ``deployment_update``; both keep the status history, the metrics time
(``occurred_at``) and the automatic rollback flag consistent, and publish the change on the
core event hook (``releasetracker.events``) inside their transaction.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NoReturn

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from deployments.first_deployments import (
    first_deployments_add_deployment,
    first_deployments_environment_changed,
    first_deployments_recompute_commits,
    first_deployments_remove_deployment,
)
from deployments.models import (
    FINAL_STATUSES,
    PRODUCTION_NAMES,
    STATUS_VALUES,
    Deployment,
    DeploymentStatus,
    DeploymentStatusChange,
    Environment,
)
from deployments.outcomes import outcomes_lock, outcomes_refresh_deployment
from deployments.selectors import (
    ReleaseSummary,
    deployment_get_by_external_id,
    deployment_latest_production,
    deployment_list_of_project,
    release_detail,
    release_summary,
)
from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, Repository, Source
from releases.services import (
    MAX_COMMITS_PER_REQUEST,
    CommitInput,
    RefInput,
    commit_shas_settle,
    project_get_or_create,
    release_add_commits,
    release_commits_complete,
    release_create,
    release_create_or_keep,
    release_update,
    repository_from_url,
    repository_get_or_create,
    workflow_run_id_clean,
)
from releasetracker import events
from releasetracker.errors import Conflict, DomainError, NotFound
from releasetracker.models import Organization
from releasetracker.validation import (
    MAX_DURATION_SECONDS,
    clean_model_text,
    clean_positive_int,
    clean_sha,
    clean_text,
    clean_time,
)

# Tags that set the matching flag; any tag is kept in ``tags`` as sent (is_failure included,
# which the change failure rate reads).
FLAG_TAGS = ("is_fix", "is_hotfix", "is_forced", "is_rollback")
MAX_TAGS = 50


def environment_get_or_create(*, organization: Organization, name: str, field_name: str = "environment") -> Environment:
    name = clean_model_text(Environment, "name", name, field=field_name, required=True)
    env, _ = Environment.objects.get_or_create(
        organization=organization, name=name, defaults={"is_production": name.lower() in PRODUCTION_NAMES}
    )
    return env


def environment_production_get_or_create(*, organization: Organization) -> Environment:
    """The organization's production environment, for vendor signals that name none (Echoes, iftrue).

    Prefers one named "production", then the oldest environment flagged production; creates
    "production" when the organization has none.
    """
    production = Environment.objects.for_organization(organization).filter(is_production=True)
    found = production.filter(name="production").first() or production.order_by("created_at", "id").first()
    if found is not None:
        return found
    return environment_get_or_create(organization=organization, name="production")


def environment_update(
    *, organization: Organization, environment: Environment, name: str | None = None, is_production: bool | None = None
) -> Environment:
    if environment.organization_id != organization.pk:
        raise DomainError("environment belongs to another organization", field="environment")
    changed = ["updated_at"]
    if name is not None:
        name = clean_model_text(Environment, "name", name, required=True)
        clash = Environment.objects.for_organization(organization).filter(name=name).exclude(pk=environment.pk)
        if clash.exists():
            raise Conflict(f"an environment named '{name}' already exists", field="name")
        environment.name = name
        changed.append("name")
    production_changed = is_production is not None and bool(is_production) != environment.is_production
    if is_production is not None:
        environment.is_production = bool(is_production)
        changed.append("is_production")
    try:
        with transaction.atomic():
            environment.save(update_fields=changed)
            if production_changed:
                first_deployments_environment_changed(environment)
    except IntegrityError:
        raise Conflict(f"an environment named '{name}' already exists", field="name") from None
    return environment


def clean_tags(tags, *, field: str = "tags") -> list[str]:
    """Tags as a list of unique strings, in the order sent. At most ``MAX_TAGS`` are accepted,
    counted before anything else is done with them, so a huge list is refused at once."""
    if tags is None or tags == "":
        return []
    if isinstance(tags, str):
        tags = tags.split(",", MAX_TAGS)
    if not isinstance(tags, (list, tuple)):
        raise DomainError("must be a list of strings or a comma-separated string", field=field)
    if len(tags) > MAX_TAGS:
        raise DomainError(f"at most {MAX_TAGS} tags", field=field)
    cleaned: dict[str, None] = {}  # insertion-ordered and de-duplicated in linear time
    for index, tag in enumerate(tags):
        value = clean_text(tag, field=f"{field}.{index}", max_length=100)
        if value:
            cleaned[value] = None
    return list(cleaned)


def _clean_status(status: str, *, field: str = "status") -> str:
    if status not in STATUS_VALUES:
        raise DomainError(f"'{status}' is not one of: {', '.join(STATUS_VALUES)}", field=field)
    return status


def _apply_times(deployment: Deployment, *, now: datetime) -> None:
    if deployment.status in FINAL_STATUSES and deployment.finished_at is None:
        deployment.finished_at = now
    if deployment.status == DeploymentStatus.IN_PROGRESS and deployment.started_at is None:
        deployment.started_at = now
    if deployment.started_at and deployment.finished_at and deployment.finished_at < deployment.started_at:
        raise DomainError("must not be before started_at", field="finished_at")
    if deployment.started_at and deployment.finished_at and deployment.duration_seconds is None:
        deployment.duration_seconds = (deployment.finished_at - deployment.started_at).total_seconds()
    deployment.occurred_at = deployment.finished_at or deployment.deployed_at or deployment.created_at or now


def _status_time(deployment: Deployment, now: datetime) -> datetime:
    if deployment.status in FINAL_STATUSES and deployment.finished_at:
        return deployment.finished_at
    if deployment.status == DeploymentStatus.IN_PROGRESS and deployment.started_at:
        return deployment.started_at
    return now


# Text the service decides itself, or takes as its own argument, rather than as descriptive text.
_MANAGED_TEXT = frozenset({"commit_sha", "status", "external_id", "source", "created_by"})
# Descriptive text a caller may set: every other editable text column of the model, each with
# its model field's limit, so a new descriptive field needs no change here.
TEXT_FIELDS = frozenset(
    field.name
    for field in Deployment._meta.get_fields()
    if isinstance(field, (models.CharField, models.TextField)) and field.editable and field.name not in _MANAGED_TEXT
)


def _clean_texts(text_fields: dict) -> dict[str, str]:
    return {name: clean_model_text(Deployment, name, value) for name, value in text_fields.items()}


# Sha matching ------------------------------------------------------------------------------


def sha_matches(prefix: str, *, field: str = "sha") -> dict:
    """Filter keywords for a ``field`` that starts with ``prefix`` (a full sha, or an abbreviation of one).

    The range lets the (organization, sha) index find the rows whatever the collation; the
    ``startswith`` keeps the test exact. A full-length sha is plain equality.
    """
    if len(prefix) >= 40:
        return {field: prefix}
    # "g" sorts after every hex digit: the range holds exactly the strings starting with ``prefix``.
    return {f"{field}__gte": prefix, f"{field}__lt": f"{prefix}g", f"{field}__startswith": prefix}


def _release_containing(*, organization: Organization, sha: str) -> Release | None:
    """The release that contains the commit ``sha`` names, when exactly one does.

    CI often sends the abbreviated sha (7+ digits) of a commit a release lists in full.
    """
    release_ids = list(
        ReleaseCommit.objects.for_organization(organization)
        .filter(**sha_matches(sha, field="commit__sha"), commit__organization=organization)
        .values_list("release_id", flat=True)
        .distinct()[:2]
    )
    if len(release_ids) != 1:
        return None
    return Release.objects.for_organization(organization).get(pk=release_ids[0])


def _only_project_of(release: Release) -> Project | None:
    """A release of a single project deploys that project; with several (or none), no project."""
    links = list(ReleaseProject.objects.filter(release=release).select_related("project")[:2])
    return links[0].project if len(links) == 1 else None


def _remember_bare_sha(
    *, organization: Organization, sha: str, seen_at: datetime, repository: Repository | str | None, url: str
) -> None:
    """Record a deployed sha that no commit has (or abbreviates to), first seen at ``seen_at``,
    in the ``repository`` the deployment names (a name is created on first use, with ``url``).

    Lead time then has a start for it (DESIGN.md: the time the tracker first saw the commit
    when its timestamp is unknown), e.g. when the same sha reaches production after staging.
    ``seen_at`` is the recording deployment's own "now", so a sha first seen by a production
    deployment measures exactly 0 there and is left out. A concurrent insert of the same sha is
    ignored by the unique constraint.
    """
    if Commit.objects.for_organization(organization).filter(**sha_matches(sha)).exists():
        return
    if isinstance(repository, str):
        repository = repository_get_or_create(organization=organization, name=repository, url=url)
    Commit.objects.bulk_create(
        [Commit(organization=organization, sha=sha, repository=repository, created_at=seen_at)], ignore_conflicts=True
    )


@transaction.atomic
def deployment_shas_complete(*, organization: Organization, short_sha: str, sha: str) -> int:
    """Name the commit by its full ``sha`` on the deployments without a release that named it
    ``short_sha``, once the commit stored abbreviated has its full sha (the one rule for shas).

    The metrics and the rollback check compare these shas by equality. Deployments of a release
    keep the sha they were sent: their commits are the release's. Per environment, so the
    ``deployments_bare_sha`` index finds them.
    """
    environments = Environment.objects.for_organization(organization).values_list("id", flat=True)
    renamed = (
        Deployment.objects.for_organization(organization)
        .filter(environment_id__in=list(environments), release__isnull=True, commit_sha=short_sha)
        .update(commit_sha=sha)
    )
    # The commit keeps its id and its bare deployments follow it, so its first deployments should
    # not move; they are recomputed anyway, since which deployments name it just changed.
    commit_ids = list(Commit.objects.for_organization(organization).filter(sha=sha).values_list("id", flat=True))
    first_deployments_recompute_commits(organization_id=organization.pk, commit_ids=commit_ids)
    return renamed


# Rollback detection ------------------------------------------------------------------------


def _is_rollback(deployment: Deployment) -> bool:
    """Whether ``deployment`` puts back what was live before the deployment it replaces.

    "Live before" is the latest earlier successful deployment to the same environment and
    project; the target is the release, or the sha of a deployment without one. Two indexed
    searches, neither of which reads the environment's history: the deployment live just before
    (``deployments_org_env_time``), and only when that one is of another target, whether this
    target was live at some time before it (``deployments_release_env_time`` for a release,
    ``deployments_bare_sha`` for a bare sha).
    """
    if deployment.status != DeploymentStatus.SUCCESS or not (deployment.release_id or deployment.commit_sha):
        return False
    in_place = Deployment.objects.for_organization(deployment.organization).filter(
        environment_id=deployment.environment_id, project_id=deployment.project_id, status=DeploymentStatus.SUCCESS
    )
    if deployment.pk is not None:
        in_place = in_place.exclude(pk=deployment.pk)
    live = (
        in_place.filter(occurred_at__lt=deployment.occurred_at)
        .order_by("-occurred_at", "-id")
        .values("release_id", "commit_sha", "occurred_at")
        .first()
    )
    if live is None:
        return False
    if deployment.release_id:
        if live["release_id"] == deployment.release_id:
            return False
        same_target = in_place.filter(release_id=deployment.release_id)
    else:
        if live["release_id"] is None and live["commit_sha"] == deployment.commit_sha:
            return False
        same_target = in_place.filter(release__isnull=True, commit_sha=deployment.commit_sha)
    return same_target.filter(occurred_at__lt=live["occurred_at"]).exists()


# Deployments -------------------------------------------------------------------------------


@transaction.atomic
def deployment_record(
    *,
    organization: Organization,
    environment: Environment | str,
    release: Release | str | None = None,
    commit_sha: str = "",
    project: Project | str | None = None,
    status: str = DeploymentStatus.SUCCESS,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    deployed_at: datetime | None = None,
    duration_seconds: float | None = None,
    is_fix: bool = False,
    is_hotfix: bool = False,
    is_forced: bool = False,
    is_rollback: bool = False,
    tags: Iterable[str] | str | None = None,
    external_id: str = "",
    pull_request_number: int | None = None,
    commits_count: int | None = None,
    source: str = Source.API,
    created_by: str = "",
    request_workflow: bool = False,
    created_at: datetime | None = None,
    repository: Repository | str | None = None,
    **text_fields: str,
) -> tuple[Deployment, bool]:
    """Record a deployment of a release or a commit to an environment, all or nothing.

    ``environment``, ``release`` and ``project`` are rows the caller already has, or names: an
    environment or project named for the first time is created; a release named by version must
    exist. Without a release, a ``commit_sha`` that exactly one release contains deploys that
    release; without a project, a release of a single project deploys that project.

    Returns ``(deployment, created)``. A repeat with the same ``external_id`` in the same
    environment returns the first deployment unchanged (``created`` False). A new deployment
    comes back with its environment, release, project and status history loaded, ready to render.
    ``request_workflow`` asks listeners to start the environment's deploy workflow (Aviator).

    ``created_at`` is when the source created the deployment, for a source that says (GitHub):
    its first status, and the first sighting of a sha no commit has, are dated then rather than
    on arrival, so they sort with the statuses the source dates itself. ``repository`` (a row or
    a name, created on first use with the ``repository_url``) is where such a sha is recorded.
    """
    unknown = set(text_fields) - set(TEXT_FIELDS)
    if unknown:
        raise TypeError(f"unknown deployment fields: {', '.join(sorted(unknown))}")
    # Every input rule first, so a bad request costs no query.
    if not isinstance(environment, Environment):
        environment = clean_model_text(Environment, "name", environment, field="environment", required=True)
    elif environment.organization_id != organization.pk:
        raise DomainError("no such environment", field="environment")
    if isinstance(release, Release):
        if release.organization_id != organization.pk:
            raise DomainError("no such release", field="release")
    else:
        release = clean_model_text(Release, "version", release, field="release") or None
    if isinstance(project, Project):
        if project.organization_id != organization.pk:
            raise DomainError("no such project", field="project")
    elif project:
        project = clean_model_text(Project, "name", project, field="project", required=True)
    if isinstance(repository, Repository):
        if repository.organization_id != organization.pk:
            raise DomainError("no such repository", field="repository")
    else:
        repository = clean_model_text(Repository, "name", repository, field="repository") or None
    external_id = clean_model_text(Deployment, "external_id", external_id)
    sha = clean_sha(commit_sha, field="commit_sha") if commit_sha else ""
    if release is None and not sha:
        raise DomainError("a deployment needs a release version or a commit_sha", field="release")
    tag_list = clean_tags(tags)
    flags = {
        "is_fix": bool(is_fix) or "is_fix" in tag_list,
        "is_hotfix": bool(is_hotfix) or "is_hotfix" in tag_list,
        "is_forced": bool(is_forced) or "is_forced" in tag_list,
        "is_rollback": bool(is_rollback) or "is_rollback" in tag_list,
    }
    if duration_seconds is not None:
        if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, (int, float)):
            raise DomainError("must be a number of seconds", field="duration_seconds")
        if not 0 <= duration_seconds <= MAX_DURATION_SECONDS:
            raise DomainError("must be between 0 and one year in seconds", field="duration_seconds")
        duration_seconds = float(duration_seconds)  # as the column gives it back
    status = _clean_status(status)
    now = clean_time(created_at, field="created_at") or timezone.now()
    deployment = Deployment(
        organization=organization,
        commit_sha=sha,
        status=status,
        started_at=clean_time(started_at, field="started_at"),
        finished_at=clean_time(finished_at, field="finished_at"),
        deployed_at=clean_time(deployed_at, field="deployed_at"),
        duration_seconds=duration_seconds,
        tags=tag_list,
        external_id=external_id,
        pull_request_number=clean_positive_int(pull_request_number, field="pull_request_number"),
        commits_count=clean_positive_int(commits_count, field="commits_count"),
        source=source,
        created_by=created_by[: Deployment._meta.get_field("created_by").max_length],
        created_at=now,
        **flags,
        **_clean_texts(text_fields),
    )
    _apply_times(deployment, now=now)

    # Then the rows it names. A sha abbreviating a known commit is that commit.
    if sha:
        sha = deployment.commit_sha = commit_shas_settle(organization=organization, shas=[sha])[sha]
    if isinstance(release, str):
        found = Release.objects.for_organization(organization).filter(version=release).first()
        if found is None:
            raise DomainError(f"no release with version '{release}'; create it first", field="release")
        release = found
    elif release is None:
        release = _release_containing(organization=organization, sha=sha)
    if isinstance(environment, str):
        environment = environment_get_or_create(organization=organization, name=environment)
    if external_id:
        existing = Deployment.objects.for_organization(organization).filter(
            environment=environment, external_id=external_id
        )
        if existing.exists():
            return existing.get(), False
    if isinstance(project, str):
        project = project_get_or_create(organization=organization, name=project)
    elif project is None and release is not None:
        project = _only_project_of(release)
    deployment.environment, deployment.release, deployment.project = environment, release, project

    if release is None:
        _remember_bare_sha(
            organization=organization, sha=sha, seen_at=now, repository=repository, url=deployment.repository_url
        )
    if not deployment.is_rollback:
        deployment.is_rollback = deployment.rollback_detected = _is_rollback(deployment)
    if not external_id:
        deployment.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                deployment.save(force_insert=True)
        except IntegrityError:
            # A concurrent request with the same external id won the race: answer with its row.
            return Deployment.objects.for_organization(organization).get(
                environment=environment, external_id=external_id
            ), False
    change = DeploymentStatusChange.objects.create(
        organization=organization, deployment=deployment, status=status, at=_status_time(deployment, now)
    )
    setattr(deployment, Deployment.HISTORY_LOADED, [change])
    events.publish(
        events.DEPLOYMENT_CREATED, organization=organization, deployment=deployment, requested=request_workflow
    )
    # Its stream's outcomes (which take its environment's lock: writes to one environment take
    # turns from here), then its commits' first deployments: the lock before those rows, the order
    # every write that recomputes outcomes takes them in, and late, so it is held briefly.
    outcomes_refresh_deployment(deployment)
    first_deployments_add_deployment(deployment)
    return deployment, True


@transaction.atomic
def deployment_update(
    *,
    organization: Organization,
    deployment: Deployment,
    status: str | None = None,
    at: datetime | None = None,
    **text_fields: str,
) -> Deployment:
    """Change a deployment's status (kept in its history, with its time) and descriptive fields.

    A final status sets ``finished_at`` (to ``at``, default now); ``in_progress`` sets
    ``started_at`` when it is unknown. The same status again adds no history.
    """
    if deployment.organization_id != organization.pk:
        raise DomainError("no such deployment", field="deployment")
    unknown = set(text_fields) - set(TEXT_FIELDS)
    if unknown:
        raise DomainError("cannot be changed", field=sorted(unknown)[0])
    texts = _clean_texts(text_fields)
    if status is not None:
        # A status change recomputes outcomes in its environment: that lock comes first.
        outcomes_lock([deployment.environment_id])
    # Lock the row so two concurrent status changes are applied one after the other.
    deployment = (
        Deployment.objects.for_organization(organization)
        .select_for_update(of=("self",))
        .select_related("environment", "release", "project")
        .get(pk=deployment.pk)
    )
    previous_status, previous_at = deployment.status, deployment.occurred_at
    now = timezone.now()
    at = clean_time(at, field="at") or now
    changed = {"updated_at", *texts}
    for name, value in texts.items():
        setattr(deployment, name, value)
    if status is not None and _clean_status(status) != deployment.status:
        if status in FINAL_STATUSES and deployment.started_at is not None and at < deployment.started_at:
            # Name the input the caller sent (``at``), not the column it would have set.
            raise DomainError(
                f"must not be before the deployment's start ({deployment.started_at.isoformat()})", field="at"
            )
        deployment.status = status
        if status in FINAL_STATUSES:
            deployment.finished_at = at
            if deployment.started_at is not None:
                deployment.duration_seconds = None  # recomputed from the two times below
        elif status == DeploymentStatus.IN_PROGRESS and deployment.started_at is None:
            deployment.started_at = at
        _apply_times(deployment, now=now)
        if deployment.rollback_detected or not deployment.is_rollback:
            # A detected flag is detected again: a rollback that fails is cleared; one the
            # client declared stays.
            deployment.is_rollback = deployment.rollback_detected = _is_rollback(deployment)
        changed |= {
            "status",
            "finished_at",
            "started_at",
            "duration_seconds",
            "occurred_at",
            "is_rollback",
            "rollback_detected",
        }
        DeploymentStatusChange.objects.create(organization=organization, deployment=deployment, status=status, at=at)
    deployment.save(update_fields=sorted(changed))
    if previous_status != deployment.status:
        # Its commits' first deployments: a success that ended gives its rows up, a new one may take them.
        if previous_status == DeploymentStatus.SUCCESS:
            first_deployments_remove_deployment(deployment)
        first_deployments_add_deployment(deployment)
        events.publish(
            events.DEPLOYMENT_STATUS_CHANGED,
            organization=organization,
            deployment=deployment,
            previous_status=previous_status,
        )
        # Its own outcome and the stretch of its stream around where it was and is now; last, so
        # its environment's lock is held briefly.
        outcomes_refresh_deployment(deployment, was_at=previous_at)
    return deployment


def deployment_change_status(
    *, organization: Organization, deployment: Deployment, status: str, at: datetime | None = None
) -> Deployment:
    return deployment_update(organization=organization, deployment=deployment, status=status, at=at)


# Signals that name no environment (Echoes, iftrue) -------------------------------------------
# Kept together at the end of the module, apart from the ingest path above.

# What a declared release's outcome may be (Echoes' PATCH); both are also release statuses.
OUTCOMES = (DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE)


@transaction.atomic
def deployment_record_production(*, organization: Organization, **fields) -> tuple[Deployment, bool]:
    """``deployment_record`` into the organization's production environment, for a signal that
    names no environment: what it reports is what reached production."""
    environment = environment_production_get_or_create(organization=organization)
    return deployment_record(organization=organization, environment=environment, **fields)


@transaction.atomic
def deployment_record_from_repository(
    *, organization: Organization, repository_url: str, **fields
) -> tuple[Deployment, Repository, bool]:
    """A production deployment reported with its repository's URL and no environment: the
    repository is recorded too (``repository_from_url``), all or nothing, and returned with the
    deployment for the caller's answer. Returns ``(deployment, repository, created)``."""
    repository = repository_from_url(organization=organization, url=repository_url)
    environment = environment_production_get_or_create(organization=organization)
    # The URL as sent: the repository may have been recorded earlier under another spelling.
    deployment, created = deployment_report_by_external_id(
        organization=organization, environment=environment, repository_url=repository_url, **fields
    )
    return deployment, repository, created


@transaction.atomic
def deployment_report_by_external_id(
    *,
    organization: Organization,
    environment: Environment,
    status: str = DeploymentStatus.SUCCESS,
    external_id: str = "",
    **fields,
) -> tuple[Deployment, bool]:
    """A source's report of its deployment ``external_id`` to ``environment``, sent when the
    deployment starts and again when it ends, with only the status changed (iftrue).

    The first report records the deployment (``deployment_record`` with ``fields``). A later one
    with another status moves it there through ``deployment_update`` (its history, its finish
    time, hence the metrics); the other fields stay those of the first report. A report with
    the status the deployment has changes nothing, and neither does an unfinished status for a
    finished deployment: that is a late retry of the start report, which must not undo the end.
    Without ``external_id`` every report is a new deployment. Returns ``(deployment, created)``.
    """
    deployment, created = deployment_record(
        organization=organization, environment=environment, status=status, external_id=external_id, **fields
    )
    # ``deployment_record`` has checked the status; a concurrent first report lands here too.
    if created or status == deployment.status or (deployment.is_final and status not in FINAL_STATUSES):
        return deployment, created
    return deployment_update(organization=organization, deployment=deployment, status=status), False


@transaction.atomic
def release_declare(
    *,
    organization: Organization,
    version: str,
    commits: Sequence[CommitInput] = (),
    projects: Sequence[str] = (),
    name: str = "",
    ref: str = "",
    url: str = "",
    date_released: datetime | None = None,
    source: str = Source.API,
    created_by: str = "",
) -> tuple[Release, Deployment | None, bool]:
    """Declare a release deployed: the release, plus a successful deployment of it to production
    at its release date (default: when the declaration arrived). Returns
    ``(release, deployment, created)``.

    A declaration is a deployment from the moment it is made (Echoes uses declarations for
    deployment frequency and lead time), so it counts without an outcome; ``release_outcome_set``
    later confirms it or makes it a failed change. The release's own status stays ``pending``
    until then. Idempotent like ``release_create``: the same declaration again returns the
    existing release and its latest production deployment, ``created`` False; the same version
    with another payload is a ``Conflict``. The release comes back with what ``release_detail``
    shows of it.
    """
    release, created = release_create(
        organization=organization,
        version=version,
        projects=projects,
        commits=commits,
        name=name,
        ref=ref,
        url=url,
        date_released=date_released,
        source=source,
        created_by=created_by,
    )
    if not created:
        release = release_detail(organization=organization).get(pk=release.pk)
        return release, deployment_latest_production(organization=organization, release=release), False
    if release.date_released is None:
        # Stored undated, then dated: a retry of the same undated declaration still equals the
        # stored create payload, so it is recognized as the same declaration. The date is when
        # the release row was made, before its commits: a commit the tracker first sees here then
        # measures no lead time, as for any sha first seen in production.
        release_update(organization=organization, release=release, date_released=release.created_at)
    deployment, _ = deployment_record_production(
        organization=organization,
        release=release,
        status=DeploymentStatus.SUCCESS,
        finished_at=release.date_released,
        deployed_at=release.date_released,
        source=source,
        created_by=created_by,
    )
    # The new release carries what its detail shows (release_create left it there); now this deployment too.
    setattr(release, Release.DEPLOYMENTS_LOADED, [deployment])
    return release, deployment, True


@transaction.atomic
def release_outcome_set(
    *, organization: Organization, release: Release, status: str | None, source: str = Source.API, created_by: str = ""
) -> tuple[Release, Deployment]:
    """Set a declared release's outcome, ``success`` or ``failure``, on the release and on its
    latest production deployment: a failure makes it a failed change, a success confirms it.
    A deployment that has finished keeps its time (a declared one counts at its release date):
    the outcome changes what it was, not when it was; one still in progress finishes now. A
    release that has no production deployment (one created through another API) gets one now,
    with the outcome. Returns ``(release, deployment)``."""
    if status is None:
        raise DomainError("this field is required", field="status")
    if status not in OUTCOMES:
        raise DomainError("must be either `failure` or `success`", field="status")
    release = release_update(organization=organization, release=release, status=status)
    deployment = deployment_latest_production(organization=organization, release=release)
    if deployment is None:
        deployment, _ = deployment_record_production(
            organization=organization, release=release, status=status, source=source, created_by=created_by
        )
    else:
        at = deployment.finished_at if deployment.is_final else None
        deployment = deployment_update(organization=organization, deployment=deployment, status=status, at=at)
    return release, deployment


# Sentry's release flow: a create that extends, commits from registered repositories ----------


def _commits_from_registered_repositories(
    *, organization: Organization, commits: Sequence[CommitInput], refs: Sequence[RefInput]
) -> list[CommitInput]:
    """Sentry's rules for the commits and refs sent with a release; returns the commits to add.

    A ref names a repository registered beforehand (Sentry refuses others; ``sentry-cli`` checks
    too). A commit's repository that is not registered and is no "owner/repo" name is the name of
    a git remote ("origin", from ``set-commits --local``) and is dropped, where an unknown
    "owner/repo" is created, as Sentry does. A ref's head commit joins the commits: the release
    then has a commit for lead time.
    """
    names = {ref.repository for ref in refs} | {c.repository for c in commits if isinstance(c.repository, str)}
    known = set(Repository.objects.for_organization(organization).filter(name__in=names).values_list("name", flat=True))
    unknown = {ref.repository for ref in refs} - known
    if unknown:
        raise DomainError(f"Invalid repository names: {','.join(sorted(unknown))}")
    kept = [
        replace(c, repository="")
        if isinstance(c.repository, str) and c.repository not in known and "/" not in c.repository
        else c
        for c in commits
    ]
    listed = {c.sha for c in kept}
    return kept + [CommitInput(sha=r.commit, repository=r.repository) for r in refs if r.commit not in listed]


ARTIFACTS_NOT_STORED = (
    "This server (Release Tracker) records releases, commits and deploys; it does not store "
    "artifacts (source maps, debug files, release files). Upload them to Sentry itself, or "
    "leave this step out where SENTRY_URL points here."
)
# How long a refused artifact upload waits for the same client's finalize: a CI job's length.
ARTIFACT_REFUSAL_SECONDS = 60 * 60


def _refusal_key(organization: Organization, client: str) -> str:
    # Hashed: the client (token and address) never becomes part of a cache key verbatim.
    return "sentry-artifacts-refused:" + hashlib.sha256(f"{organization.pk}\x00{client}".encode()).hexdigest()


def _refusals():
    # The rate limits' cache: shared between processes (CACHE_URL, a database table by default).
    return caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]


def artifact_upload_refuse(*, organization: Organization, client: str) -> NoReturn:
    """Refuse an artifact upload (source maps, debug files, release files): none are stored here.

    Always raises. The refusal is also remembered for ``client`` (a token and an address), whose
    next finalize ``release_extend`` refuses: getsentry/action-release runs the upload in a mode
    that ignores sentry-cli's exit code, and its finalize, which does not, is then the step that
    fails, so the pipeline does not pass as if the artifacts were stored.
    """
    _refusals().set(_refusal_key(organization, client), timezone.now().isoformat(), ARTIFACT_REFUSAL_SECONDS)
    raise DomainError(ARTIFACTS_NOT_STORED)


def _take_artifact_refusal(*, organization: Organization, client: str) -> None:
    """Refuse the finalize of a client whose artifact upload was refused (once: the refusal is used up)."""
    key = _refusal_key(organization, client)
    refused_at = _refusals().get(key)
    if refused_at is None:
        return
    _refusals().delete(key)
    when = datetime.fromisoformat(refused_at).strftime("%H:%M:%S UTC")
    raise Conflict(
        f"Not finalized: an artifact upload from this client was refused at {when}, so this pipeline "
        "did not do all it asked. This server does not store source maps, debug files or release "
        "files; the release, its commits and deploys are recorded. Leave the upload step out (with "
        "getsentry/action-release: the sourcemaps input) and finalize again."
    )


def _release_extend(
    *,
    organization: Organization,
    release: Release,
    commits: list[CommitInput],
    refs: Sequence[RefInput],
    **changes,
) -> ReleaseSummary:
    """``release_extend`` for commits that already follow the rules; ``changes`` go to ``release_update``."""
    release_update(organization=organization, release=release, **changes)
    if commits or refs:
        release_add_commits(organization=organization, release=release, commits=commits, refs=refs)
    return release_summary(organization=organization, release=release)


@transaction.atomic
def release_extend(
    *,
    organization: Organization,
    release: Release,
    projects: Sequence[str] | None = None,
    commits: Sequence[CommitInput] = (),
    refs: Sequence[RefInput] = (),
    date_released: datetime | None = None,
    archived: bool | None = None,
    client: str = "",
    **text_fields: str,
) -> ReleaseSummary:
    """Change a release and add commits and refs to it, all or nothing (Sentry's finalize,
    ``set-commits``, ``archive`` and ``restore``). Projects, commits and refs are only ever added;
    the commits follow ``_commits_from_registered_repositories``. A finalize (``date_released``)
    by a ``client`` whose artifact upload was just refused is refused (``artifact_upload_refuse``).
    Returns the release's summary as it now is."""
    if date_released is not None and client:
        _take_artifact_refusal(organization=organization, client=client)
    return _release_extend(
        organization=organization,
        release=release,
        commits=_commits_from_registered_repositories(organization=organization, commits=commits, refs=refs),
        refs=refs,
        projects=projects,
        date_released=date_released,
        archived=archived,
        **text_fields,
    )


@transaction.atomic
def release_create_or_extend(
    *,
    organization: Organization,
    version: str,
    projects: Sequence[str] = (),
    commits: Sequence[CommitInput] = (),
    refs: Sequence[RefInput] = (),
    ref: str = "",
    url: str = "",
    date_released: datetime | None = None,
    archived: bool | None = None,
    source: str = Source.API,
    created_by: str = "",
) -> tuple[ReleaseSummary, bool]:
    """Sentry's create: a new version is created with everything sent (``True``); an existing one
    gains the projects, commits and refs sent and keeps the rest as it is (``False``), where
    ``release_create`` would refuse a different payload, except that ``archived`` archives or
    restores it (``sentry-cli releases archive`` and ``restore`` call the create, as Sentry
    allows). Commits and refs follow ``_commits_from_registered_repositories``. Returns the
    release's summary as it now is."""
    version = clean_model_text(Release, "version", version, required=True)
    all_commits = _commits_from_registered_repositories(organization=organization, commits=commits, refs=refs)
    release = Release.objects.for_organization(organization).filter(version=version).first()
    if release is None:
        try:
            release, created = release_create(
                organization=organization,
                version=version,
                projects=projects,
                commits=all_commits,
                refs=refs,
                ref=ref,
                url=url,
                date_released=date_released,
                source=source,
                created_by=created_by,
            )
        except Conflict:
            # A concurrent create of the same version won: this one extends it.
            release = Release.objects.for_organization(organization).get(version=version)
        else:
            if created:
                if archived:
                    release_update(organization=organization, release=release, archived=True)
                return release_summary(organization=organization, release=release), True
    summary = _release_extend(
        organization=organization,
        release=release,
        commits=all_commits,
        refs=refs,
        projects=projects or None,
        archived=archived,
    )
    return summary, False


# Aviator: deployments asked for, status upserts and rollbacks --------------------------------
# Kept together at the end of the module, with the other incoming integrations' rules below.


@transaction.atomic
def deployment_start(*, organization: Organization, status: str = DeploymentStatus.PENDING, **fields) -> Deployment:
    """``deployment_record`` of a deployment asked for (Aviator's create): ``pending`` unless told
    otherwise, and the environment's deploy workflow requested (``deployment.created``'s
    ``requested``). The new deployment comes back with its rows loaded, ready to render."""
    deployment, _ = deployment_record(organization=organization, status=status, request_workflow=True, **fields)
    return deployment


@transaction.atomic
def deployment_status_upsert(
    *, organization: Organization, environment: Environment, release: Release, project: str, status: str, **fields
) -> tuple[Deployment, bool]:
    """Set the status of the latest deployment of ``release`` as ``project`` to ``environment``,
    recording one with that status (and ``fields``) when there is none: Aviator's status ``PATCH``.

    A status report from the caller's own pipeline: no deploy workflow is requested, whether the
    deployment is new or not. Returns ``(deployment, created)``, ready to render.
    """
    existing = deployment_list_of_project(organization=organization, environment=environment, project=project)
    deployment = existing.filter(release=release).first()
    if deployment is not None:
        return deployment_update(organization=organization, deployment=deployment, status=status), False
    deployment, _ = deployment_record(
        organization=organization, environment=environment, release=release, project=project, status=status, **fields
    )
    return deployment, True


def deployment_rollback_target(*, organization: Organization, environment: Environment, project: str) -> Release | None:
    """The release a rollback of ``project`` in ``environment`` puts back: the release of the
    latest successful deployment whose release is not the live one (the release of the latest
    successful deployment). None when no other release was ever live there."""
    successful = deployment_list_of_project(organization=organization, environment=environment, project=project).filter(
        status=DeploymentStatus.SUCCESS, release__isnull=False
    )
    live = successful.values_list("release_id", flat=True).first()
    if live is None:
        return None
    previous = successful.exclude(release_id=live).first()
    return previous.release if previous is not None else None


@transaction.atomic
def deployment_rollback(
    *, organization: Organization, environment: Environment, project: str, release: Release | None = None, **fields
) -> Deployment:
    """``deployment_start`` of a rollback of ``project`` in ``environment`` to ``release`` (default:
    the one ``deployment_rollback_target`` names), flagged ``is_rollback``. ``NotFound`` when
    there is nothing to go back to."""
    if release is None:
        release = deployment_rollback_target(organization=organization, environment=environment, project=project)
        if release is None:
            raise NotFound(f"no earlier release of {project} was live in {environment.name}", field="release")
    return deployment_start(
        organization=organization, environment=environment, release=release, project=project, is_rollback=True, **fields
    )


# A deployment whose workflow has not started yet.
NOT_STARTED = frozenset({DeploymentStatus.PENDING, DeploymentStatus.QUEUED})


@transaction.atomic
def deployment_workflow_run_set(*, organization: Organization, deployment: Deployment, workflow_run_id) -> Deployment:
    """Link the CI run that carries ``deployment`` out (Aviator's sync-deploy call, the deploy
    workflow's first step, so the run has started): a deployment not started yet (``pending``,
    ``queued``) is ``in_progress`` from then; one further along keeps its status. The latest call
    wins. Returns the deployment with its environment, release and project loaded."""
    run_id = workflow_run_id_clean(workflow_run_id, model=Deployment)
    if deployment.organization_id != organization.pk:
        raise DomainError("no such deployment", field="deployment")
    # Locked: a status report arriving meanwhile comes before or after this, never in between.
    deployment = (
        Deployment.objects.for_organization(organization)
        .select_for_update(of=("self",))
        .select_related("environment", "release", "project")
        .get(pk=deployment.pk)
    )
    deployment.workflow_run_id = run_id
    deployment.save(update_fields=["workflow_run_id", "updated_at"])
    if deployment.status in NOT_STARTED:
        deployment = deployment_update(
            organization=organization, deployment=deployment, status=DeploymentStatus.IN_PROGRESS
        )
    return deployment


# Deployments a source reports by its own id, in any order (GitHub) ---------------------------

# What ``deployment_status_report`` did with a status.
RECORDED, STATUS_SET, HISTORY_ADDED, UNCHANGED = "recorded", "status_set", "history_added", "unchanged"

# How far along a deployment each status is. Statuses a source dates in the same second (GitHub
# dates to the second) are taken in this order, whatever order they arrive in.
_STAGES = {
    DeploymentStatus.PENDING: 0,
    DeploymentStatus.UNKNOWN: 0,
    DeploymentStatus.QUEUED: 1,
    DeploymentStatus.IN_PROGRESS: 2,
    DeploymentStatus.CANCELING: 3,
}
_FINAL_STAGE = 4


def _when(status: str, at: datetime) -> tuple[datetime, int]:
    return at, _STAGES.get(status, _FINAL_STAGE)


def deployment_record_of_ref(
    *, organization: Organization, ref: str, commit_sha: str, project: str, **fields
) -> tuple[Deployment, bool]:
    """``deployment_record`` of a deployment that names the git ref it deployed.

    A ref that is the version of a known release (a tag) deploys that release (and its project,
    when it has one). Any other ref is the branch deployed (none when the ref is the sha itself),
    as ``project``, and the sha finds the release that contains it, if one does.
    """
    ref = clean_model_text(Deployment, "branch", ref, field="ref")
    sha = clean_sha(commit_sha, field="commit_sha")
    release = Release.objects.for_organization(organization).filter(version=ref).first() if ref else None
    if release is not None:
        return deployment_record(organization=organization, release=release, commit_sha=sha, **fields)
    project = clean_model_text(Project, "name", project, field="project", required=True)
    branch = ref.removeprefix("refs/heads/") if ref.lower() != sha else ""
    return deployment_record(organization=organization, commit_sha=sha, project=project, branch=branch, **fields)


@transaction.atomic
def deployment_status_report(
    *,
    organization: Organization,
    environment: str,
    external_id: str,
    status: str,
    at: datetime | None,
    url: str = "",
    created_at: datetime | None = None,
    **fields,
) -> tuple[Deployment, str]:
    """A status, at time ``at``, of the deployment that the source's id ``external_id`` names in
    ``environment``, from a source that does not promise the order of its reports (GitHub).

    The deployment is recorded by whichever report about it arrives first, as ``pending`` at
    ``created_at`` (when the source created it; default ``at``), with the other ``fields``
    (``deployment_record_of_ref``'s); the status is then applied to it. A status later than every
    status recorded moves the deployment to ``status`` at ``at``, and ``url`` (a log), when
    given, becomes its url. An earlier one (a late delivery) only takes its place in the history,
    and dates the start when it is an earlier ``in_progress``: a late ``in_progress`` must not
    undo a ``success``. So the deployment ends the same whatever order its reports arrive in.
    Returns ``(deployment, RECORDED | STATUS_SET | HISTORY_ADDED | UNCHANGED)``.
    """
    environment = clean_model_text(Environment, "name", environment, field="environment", required=True)
    external_id = clean_model_text(Deployment, "external_id", external_id, field="external_id", required=True)
    status = _clean_status(status)
    at = clean_time(at, field="at") or timezone.now()
    created_at = clean_time(created_at, field="created_at") or at
    existing = deployment_get_by_external_id(
        organization=organization, environment=environment, external_id=external_id
    )
    recorded = False
    if existing is None:
        existing, recorded = deployment_record_of_ref(
            organization=organization,
            environment=environment,
            external_id=external_id,
            status=DeploymentStatus.PENDING,
            created_at=created_at,
            **fields,
        )
    # Locked, so two reports of the same deployment are placed one after the other (its
    # environment first: a status it moves to recomputes outcomes there).
    outcomes_lock([existing.environment_id])
    deployment = Deployment.objects.for_organization(organization).select_for_update(of=("self",)).get(pk=existing.pk)
    history = sorted(deployment.status_changes.all(), key=lambda change: (_when(change.status, change.at), change.pk))
    if not history or _when(status, at) > _when(history[-1].status, history[-1].at):
        texts = {"url": url} if url else {}
        deployment = deployment_update(organization=organization, deployment=deployment, status=status, at=at, **texts)
        done = STATUS_SET
    else:
        done = _history_insert(organization, deployment, history, status=status, at=at)
    return deployment, RECORDED if recorded else done


def _history_insert(
    organization: Organization,
    deployment: Deployment,
    history: list[DeploymentStatusChange],
    *,
    status: str,
    at: datetime,
) -> str:
    """Put a status that arrived late in the ``history`` (in time order) where it was made, leaving
    the current status alone; the history then reads as if the reports had arrived in order."""
    before = [change for change in history if _when(change.status, change.at) <= _when(status, at)]
    if before and before[-1].status == status:
        return UNCHANGED  # this status was already in effect then: a repeat
    after = history[len(before)] if len(before) < len(history) else None
    if after is not None and after.status == status:
        # The same status, begun earlier than the report that arrived first said.
        after.at = at
        after.save(update_fields=["at", "updated_at"])
    else:
        DeploymentStatusChange.objects.create(organization=organization, deployment=deployment, status=status, at=at)
    if status == DeploymentStatus.IN_PROGRESS and (deployment.started_at is None or at < deployment.started_at):
        deployment.started_at = at
        if deployment.finished_at is not None:
            deployment.duration_seconds = (deployment.finished_at - at).total_seconds()
        deployment.save(update_fields=["started_at", "duration_seconds", "updated_at"])
    return HISTORY_ADDED


# Releases imported from history (git tags) ---------------------------------------------------


@dataclass(frozen=True)
class ReleaseImport:
    """What importing one release did, for the importer's summary."""

    release: Release
    created: bool
    commits_linked: int
    deployment_created: bool = False


@transaction.atomic
def release_import(
    *,
    organization: Organization,
    version: str,
    project: str,
    repository: str,
    head: str,
    ref: str,
    date: datetime,
    commits: Sequence[CommitInput] = (),
    previous: str = "",
    environment: str = "",
    external_id: str = "",
    title: str = "",
    source: str = Source.API,
    created_by: str = "",
) -> ReleaseImport:
    """Import a release made in the past at commit ``head`` of ``repository`` on ``date``, all or
    nothing: a successful release of ``project`` placed at its date in the timeline, with its
    commits, any number of them, and ``previous`` (the head of the release before) in its ref.
    ``ref`` is the release's ref as the API shows it, the tag's name (``v1.4.0``); the commit
    itself is in the release's refs.

    A version already recorded (by CI, or by an earlier import) is kept as it is; it gains the
    commits it lacks, and its commits the details they lacked. With ``environment``, the release
    also gets a successful deployment at its date, recorded once per ``external_id``.
    """
    first = commits[:MAX_COMMITS_PER_REQUEST]
    release, created = release_create_or_keep(
        organization=organization,
        version=version,
        projects=[project],
        commits=first,
        ref=ref,
        date_released=date,
        refs=[RefInput(repository=repository, commit=head, previous_commit=previous)],
        status=Release.Status.SUCCESS,
        source=source,
        created_by=created_by,
        created_at=date,
    )
    rest = commits[len(first) :] if created else commits
    linked = (len(first) if created else 0) + release_commits_complete(
        organization=organization, release=release, commits=rest
    )
    deployment_created = False
    if environment:
        _, deployment_created = deployment_record(
            organization=organization,
            environment=environment,
            release=release,
            project=project,
            commit_sha=head,
            status=DeploymentStatus.SUCCESS,
            finished_at=date,
            external_id=external_id,
            title=title,
            source=source,
            created_by=created_by,
        )
    return ReleaseImport(release, created, linked, deployment_created)
