"""Writes for environments, deployments and their status history.

Every entry point records deployments through ``deployment_record`` and changes their status
through ``deployment_update``; both keep the status history, the metrics time
(``occurred_at``) and the automatic rollback flag consistent.
"""

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from deployments import statements
from deployments.models import (
    FINAL_STATUSES,
    PRODUCTION_NAMES,
    STATUS_VALUES,
    Deployment,
    DeploymentStatus,
    DeploymentStatusChange,
    Environment,
)
from deployments.selectors import deployment_latest_production
from releases.models import Commit, Release, Source
from releases.selectors import release_detail
from releases.services import CommitInput, project_get_or_create, release_create, release_update
from releasetracker.errors import Conflict, DomainError
from releasetracker.models import Organization
from releasetracker.rawsql import relate, set_prefetched
from releasetracker.validation import clean_positive_int, clean_sha, clean_text, clean_time
from webhooks.models import WebhookEvent
from webhooks.services import deployment_data, webhook_emit

# Tags that set the matching flag; any tag is kept in ``tags`` as sent (is_failure included,
# which the change failure rate reads).
FLAG_TAGS = ("is_fix", "is_hotfix", "is_forced", "is_rollback")
MAX_TAGS = 50


def environment_get_or_create(*, organization: Organization, name: str, field_name: str = "environment") -> Environment:
    name = clean_text(name, field=field_name, max_length=100, required=True)
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
        name = clean_text(name, field="name", max_length=100, required=True)
        clash = Environment.objects.for_organization(organization).filter(name=name).exclude(pk=environment.pk)
        if clash.exists():
            raise Conflict(f"an environment named '{name}' already exists", field="name")
        environment.name = name
        changed.append("name")
    if is_production is not None:
        environment.is_production = bool(is_production)
        changed.append("is_production")
    try:
        with transaction.atomic():
            environment.save(update_fields=changed)
    except IntegrityError:
        raise Conflict(f"an environment named '{name}' already exists", field="name") from None
    return environment


def clean_tags(tags, *, field: str = "tags") -> list[str]:
    if tags is None or tags == "":
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple)):
        raise DomainError("must be a list of strings or a comma-separated string", field=field)
    cleaned: list[str] = []
    for index, tag in enumerate(tags):
        value = clean_text(tag, field=f"{field}.{index}", max_length=100)
        if value and value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_TAGS:
        raise DomainError(f"at most {MAX_TAGS} tags", field=field)
    return cleaned


def _emit(
    organization: Organization, deployment: Deployment, events: list[str], *, previous_status: str | None = None
) -> None:
    """Queue outgoing webhooks in the caller's transaction (an outbox: no commit, no delivery)."""
    webhook_emit(
        organization=organization,
        events=events,
        data=lambda: deployment_data(deployment, previous_status=previous_status),
        project_id=deployment.project_id,
        environment_id=deployment.environment_id,
    )


def _clean_status(status: str, *, field: str = "status") -> str:
    if status not in STATUS_VALUES:
        raise DomainError(f"'{status}' is not one of: {', '.join(STATUS_VALUES)}", field=field)
    return status


def _remember_bare_sha(*, organization: Organization, sha: str, seen_at: datetime) -> None:
    """Record a deployed sha that no release names as a commit, first seen at ``seen_at``.

    Lead time then has a start for it (DESIGN.md: the time the tracker first saw the commit
    when its timestamp is unknown), e.g. when the same sha reaches production after staging.
    ``seen_at`` is the recording deployment's own "now", so a sha first seen by a production
    deployment measures exactly 0 there and is left out, rather than a few milliseconds.
    Called only when no commit has (or abbreviates to) this sha; a concurrent insert of the
    same sha is ignored by the unique constraint.
    """
    Commit.objects.bulk_create([Commit(organization=organization, sha=sha, created_at=seen_at)], ignore_conflicts=True)


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


_TEXT_LIMITS = {
    "title": 500,
    "changelog": 65_536,
    "url": 500,
    "branch": 255,
    "triggered_by": 200,
    "member": 200,
    "repository_url": 500,
}


def deployment_record(
    *,
    organization: Organization,
    environment: str,
    release: str | Release | None = None,
    commit_sha: str = "",
    project: str | None = None,
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
    **text_fields: str,
) -> tuple[Deployment, bool]:
    """Record a deployment of a release (by version) or a commit to an environment.

    Returns ``(deployment, created)``. A repeat with the same ``external_id`` in the same
    environment returns the first deployment unchanged (``created`` False). The new deployment
    comes back with its environment, release, project and status history loaded.

    All or nothing: on PostgreSQL the common call (everything it names exists, no webhook
    endpoint) is a single statement that also inserts the status history
    (``statements.find_and_insert``); when more must be stored with it (a new environment or
    project, a bare sha's commit, webhook deliveries) it all runs in one transaction.
    """
    unknown = set(text_fields) - set(_TEXT_LIMITS)
    if unknown:
        raise TypeError(f"unknown deployment fields: {', '.join(sorted(unknown))}")
    # Every input rule first, so a bad request costs no query.
    environment = clean_text(environment, field="environment", max_length=100, required=True)
    external_id = clean_text(external_id, field="external_id", max_length=200)
    sha = clean_sha(commit_sha, field="commit_sha") if commit_sha else ""
    release_row: Release | None = None
    version = ""
    if isinstance(release, Release):
        if release.organization_id != organization.pk:
            raise DomainError("no such release", field="release")
        release_row = release
    else:
        version = clean_text(release, field="release", max_length=200)
    if release_row is None and not version and not sha:
        raise DomainError("a deployment needs a release version or a commit_sha", field="release")
    project_name = clean_text(project, field="project", max_length=200, required=True) if project else None
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
        if not 0 <= duration_seconds <= 366 * 86400:
            raise DomainError("must be between 0 and one year in seconds", field="duration_seconds")
        duration_seconds = float(duration_seconds)  # as the column gives it back
    status = _clean_status(status)
    times = {
        "started_at": clean_time(started_at, field="started_at"),
        "finished_at": clean_time(finished_at, field="finished_at"),
        "deployed_at": clean_time(deployed_at, field="deployed_at"),
    }
    numbers = {
        "pull_request_number": clean_positive_int(pull_request_number, field="pull_request_number"),
        "commits_count": clean_positive_int(commits_count, field="commits_count"),
    }
    texts = {name: clean_text(value, field=name, max_length=_TEXT_LIMITS[name]) for name, value in text_fields.items()}

    # Then the rows it names. The deployment is built first: in the common case one statement
    # finds them and inserts it (deployments/statements.py).
    using = router.db_for_write(Deployment)  # the primary (and later reads of this request stay there)
    connection = connections[using]
    now = timezone.now()
    deployment = statements.DEPLOYMENTS.new(
        related={"organization": organization, "release": release_row},
        commit_sha=sha,
        status=status,
        duration_seconds=duration_seconds,
        tags=tag_list,
        external_id=external_id,
        source=source,
        created_by=created_by[:200],
        created_at=now,
        **times,
        **numbers,
        **flags,
        **texts,
    )
    _apply_times(deployment, now=now)
    change = statements.STATUS_CHANGES.new(
        related={"organization": organization}, status=status, at=_status_time(deployment, now)
    )
    lookup = statements.Lookup(
        organization=organization,
        environment=environment,
        release=release_row,
        version=version,
        sha=sha,
        project=project_name,
        external_id=external_id,
    )
    if statements.can_find_and_insert(lookup, connection):
        found, inserted = statements.find_and_insert(lookup, deployment, change, connection)
        if inserted:
            set_prefetched(deployment, "status_changes", [change])
            return deployment, True
    else:
        found = statements.find(lookup, connection)
    if found.existing_id is not None:
        return Deployment.objects.get(pk=found.existing_id), False
    if release_row is None:
        release_row = found.release
        if version and release_row is None:
            raise DomainError(f"no release with version '{version}'; create it first", field="release")
    remember_sha = release_row is None and bool(sha) and not found.commit_known
    missing = found.environment is None or (project_name and found.project is None)
    # Creating what is missing, remembering a bare sha and queuing webhooks happen in one
    # transaction with the INSERT; on PostgreSQL the INSERT alone is one statement, atomic as it is.
    one_statement = connection.vendor == "postgresql" and not (
        missing or remember_sha or found.has_webhooks or external_id
    )
    with nullcontext() if one_statement else transaction.atomic(using=using):
        env = found.environment or environment_get_or_create(organization=organization, name=environment)
        project_row = found.project
        if project_name and project_row is None:
            project_row = project_get_or_create(organization=organization, name=project_name)
        relate(deployment, "environment", env)
        relate(deployment, "release", release_row)
        relate(deployment, "project", project_row)
        if remember_sha:
            _remember_bare_sha(organization=organization, sha=sha, seen_at=now)
        if not external_id:
            statements.insert(deployment, change, connection)
        else:
            try:
                with transaction.atomic(using=using):
                    statements.insert(deployment, change, connection)
            except IntegrityError:
                # A concurrent request with the same external id won the race: answer with its row.
                return (
                    Deployment.objects.for_organization(organization).get(environment=env, external_id=external_id),
                    False,
                )
        set_prefetched(deployment, "status_changes", [change])
        if found.has_webhooks:
            events = [WebhookEvent.DEPLOYMENT_CREATED]
            if request_workflow:  # Aviator's "create a deployment triggers the environment's workflow"
                events.append(WebhookEvent.DEPLOYMENT_REQUESTED)
            if deployment.status == DeploymentStatus.FAILURE:
                events.append(WebhookEvent.DEPLOYMENT_FAILED)
            _emit(organization, deployment, events)
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
    unknown = set(text_fields) - set(_TEXT_LIMITS)
    if unknown:
        raise DomainError("cannot be changed", field=sorted(unknown)[0])
    # Lock the row so two concurrent status changes are applied one after the other.
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    previous_status = deployment.status
    now = timezone.now()
    at = clean_time(at, field="at") or now
    changed = {"updated_at"}
    for name, value in text_fields.items():
        setattr(deployment, name, clean_text(value, field=name, max_length=_TEXT_LIMITS[name]))
        changed.add(name)
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
        if deployment.status == DeploymentStatus.SUCCESS and not deployment.is_rollback:
            deployment.is_rollback = statements.is_rollback(deployment, connections[router.db_for_write(Deployment)])
        changed |= {"status", "finished_at", "started_at", "duration_seconds", "occurred_at", "is_rollback"}
        DeploymentStatusChange.objects.create(organization=organization, deployment=deployment, status=status, at=at)
    deployment.save(update_fields=sorted(changed))
    if previous_status != deployment.status:
        events = [WebhookEvent.DEPLOYMENT_STATUS_CHANGED]
        if deployment.status == DeploymentStatus.FAILURE:
            events.append(WebhookEvent.DEPLOYMENT_FAILED)
        _emit(organization, deployment, events, previous_status=previous_status)
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
    return deployment_record(organization=organization, environment=environment.name, **fields)


@transaction.atomic
def release_declare(
    *,
    organization: Organization,
    version: str,
    commits: Sequence[CommitInput] = (),
    projects: Sequence[str] = (),
    name: str = "",
    ref: str = "",
    date_released: datetime | None = None,
    source: str = Source.API,
    created_by: str = "",
) -> tuple[Release, Deployment | None, bool]:
    """Declare a release deployed: the release, plus a deployment of it to production, in
    progress from its release date (default now). Returns ``(release, deployment, created)``.

    A declaration counts as a deployment from the moment it is made (deployment frequency and
    lead time read it); ``release_outcome_set`` later finishes it. Idempotent like
    ``release_create``: the same declaration again returns the existing release and its latest
    production deployment, ``created`` False; the same version with another payload is a
    ``Conflict``. The release comes back with what ``release_detail`` shows of it.
    """
    release, created = release_create(
        organization=organization,
        version=version,
        projects=projects,
        commits=commits,
        name=name,
        ref=ref,
        date_released=date_released,
        source=source,
        created_by=created_by,
        loaded=True,
    )
    if not created:
        release = release_detail(organization=organization).get(pk=release.pk)
        return release, deployment_latest_production(organization=organization, release=release), False
    if release.date_released is None:
        # Stored undated, then dated now: a retry of the same undated declaration still equals
        # the stored create payload, so it is recognized as the same declaration.
        release_update(organization=organization, release=release, date_released=timezone.now())
    deployment, _ = deployment_record_production(
        organization=organization,
        release=release,
        status=DeploymentStatus.IN_PROGRESS,
        started_at=release.date_released,
        deployed_at=release.date_released,
        source=source,
        created_by=created_by,
    )
    # The release's deployments as release_detail would read them, now that it has one.
    set_prefetched(release, "deployments", [deployment])
    return release, deployment, True


@transaction.atomic
def release_outcome_set(
    *, organization: Organization, release: Release, status: str | None, source: str = Source.API, created_by: str = ""
) -> tuple[Release, Deployment]:
    """Set a declared release's outcome, ``success`` or ``failure``, on the release and on its
    latest production deployment (a failure makes it a failed change). A release that has no
    production deployment (one created through another API) gets one now, with the outcome.
    Returns ``(release, deployment)``."""
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
        deployment = deployment_update(organization=organization, deployment=deployment, status=status)
    return release, deployment
