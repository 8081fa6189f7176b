"""Writes for projects, repositories, commits and releases.

Every entry point (native API, vendor adapters, admin, management commands) writes through
these functions. Each takes the organization first, runs in one transaction and raises
``DomainError`` (or a subclass) naming the field at fault.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, ReleaseRef, Repository, Source
from releases.selectors import release_candidate_get
from releasetracker import events
from releasetracker.errors import Conflict, DomainError, NotFound
from releasetracker.models import Organization
from releasetracker.validation import clean_model_text, clean_positive_int, clean_sha, clean_time

MAX_COMMITS_PER_REQUEST = getattr(settings, "MAX_COMMITS_PER_REQUEST", 10_000)
# A release's projects and refs per request: counted before any of them is looked at, so a
# hostile list costs no more than its parsing.
MAX_PROJECTS = 100
MAX_REFS = 100
# Keeps "IN (...)" lists under SQLite's parameter limit; PostgreSQL has none, so one query there.
CHUNK = 900


def _in_chunk() -> int:
    limit = connection.features.max_query_params
    return min(CHUNK, limit - 10) if limit else MAX_COMMITS_PER_REQUEST


@dataclass
class CommitInput:
    sha: str
    repository: str = ""
    message: str = ""
    author_name: str = ""
    author_email: str = ""
    timestamp: datetime | None = None
    pr_number: int | None = None


@dataclass
class RefInput:
    repository: str
    commit: str
    previous_commit: str = ""


@dataclass
class _CleanRelease:
    version: str
    name: str = ""
    ref: str = ""
    url: str = ""
    date_released: datetime | None = None
    projects: list[str] = field(default_factory=list)
    commits: list[CommitInput] = field(default_factory=list)
    refs: list[RefInput] = field(default_factory=list)


# Lookups created on first use --------------------------------------------------------------


def project_get_or_create(*, organization: Organization, name: str, field_name: str = "project") -> Project:
    name = clean_model_text(Project, "name", name, field=field_name, required=True)
    project, _ = Project.objects.get_or_create(organization=organization, name=name)
    return project


# Sentry's provider names of the hosts that tell a repository's provider by its URL, and the
# URL of a repository there by its "owner/repo" name.
_PROVIDER_HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
_OWNER_REPO = re.compile(r"[^/\s]+(/[^/\s]+)+")


def _provider_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if host == "dev.azure.com" or host.endswith(".visualstudio.com"):
        return "vsts"
    return next((provider for provider, known in _PROVIDER_HOSTS.items() if host == known), "")


def _url_of(provider: str, name: str) -> str:
    host = _PROVIDER_HOSTS.get(provider.lower())
    return f"https://{host}/{name}" if host and _OWNER_REPO.fullmatch(name) else ""


def repository_get_or_create(
    *, organization: Organization, name: str, url: str = "", provider: str = "", field_name: str = "repository"
) -> Repository:
    """The repository ``name``, created on first use; each call completes it.

    A URL or provider it lacks is filled in (what it has is kept); a provider is read from a
    well-known host in the URL and a URL made from a well-known provider and the name. So a
    repository first seen by name alone (a commit's repository) becomes complete once it is
    registered, which ``sentry-cli set-commits --auto`` needs to match it to a git remote.
    """
    name = clean_model_text(Repository, "name", name, field=field_name, required=True)
    url = clean_model_text(Repository, "url", url, field=f"{field_name}.url")
    provider = clean_model_text(Repository, "provider", provider, field=f"{field_name}.provider")
    provider = provider or _provider_of(url)
    repo, created = Repository.objects.get_or_create(
        organization=organization, name=name, defaults={"url": url or _url_of(provider, name), "provider": provider}
    )
    if created:
        return repo
    changed = []
    if not repo.provider and (found := provider or _provider_of(repo.url)):
        repo.provider = found
        changed.append("provider")
    if not repo.url and (found := url or _url_of(repo.provider, name)):
        repo.url = found
        changed.append("url")
    if changed:
        repo.save(update_fields=[*changed, "updated_at"])
    return repo


# Commits -----------------------------------------------------------------------------------


def _clean_commits(commits: Iterable[CommitInput], *, field_name: str = "commits") -> list[CommitInput]:
    cleaned: dict[str, CommitInput] = {}
    for index, item in enumerate(commits):
        path = f"{field_name}.{index}"
        if index >= MAX_COMMITS_PER_REQUEST:
            raise DomainError(
                f"at most {MAX_COMMITS_PER_REQUEST} commits per request; send the rest with "
                "POST /api/v1/releases/<id>/commits/",
                field=field_name,
            )
        sha = clean_sha(item.sha, field=f"{path}.sha")
        commit = CommitInput(
            sha=sha,
            repository=clean_model_text(Repository, "name", item.repository, field=f"{path}.repository"),
            message=clean_model_text(Commit, "message", item.message, field=f"{path}.message"),
            author_name=clean_model_text(Commit, "author_name", item.author_name, field=f"{path}.author_name"),
            author_email=clean_model_text(Commit, "author_email", item.author_email, field=f"{path}.author_email"),
            timestamp=clean_time(item.timestamp, field=f"{path}.timestamp"),
            pr_number=clean_positive_int(item.pr_number, field=f"{path}.pr_number"),
        )
        # The same sha twice in one list is one commit; keep the most informative entry.
        previous = cleaned.get(sha)
        if previous is None or (not previous.message and commit.message):
            cleaned[sha] = commit
    return list(cleaned.values())


# One rule for shas ---------------------------------------------------------------------------
# A unique prefix of a known commit is that commit: CI often sends 7 digits of a sha that a
# release or a push lists in full, and the metrics join commits and deployments by equality,
# so every sha is settled to one stored form when it is written.


def _near(organization: Organization, shas: Sequence[str]) -> dict[str, list[str]]:
    """The stored shas sharing the first 7 digits of any of ``shas``, grouped by those digits.

    A prefix or an extension of a sha shares its first 7 digits, so both are among them. One
    query whatever the number of shas: the digits go in as one array (JSON on SQLite), and each
    is a range the (organization, sha) index finds; "g" sorts after every hex digit, so the range
    holds exactly the shas starting with them.
    """
    heads = sorted({sha[:7] for sha in shas})
    if connection.vendor == "postgresql":
        source, head, value = "unnest(%s::text[]) AS v(head)", "v.head", heads
    else:
        source, head, value = "json_each(%s) AS v", "v.value", json.dumps(heads)
    sql = (
        f"SELECT c.sha FROM {Commit._meta.db_table} c JOIN {source}"  # noqa: S608
        f" ON c.sha >= {head} AND c.sha < {head} || 'g' WHERE c.organization_id = %s"
    )
    near: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [value, organization.pk])
        for (sha,) in cursor.fetchall():
            near.setdefault(sha[:7], []).append(sha)
    return near


@transaction.atomic
def commit_shas_settle(*, organization: Organization, shas: Iterable[str]) -> dict[str, str]:
    """The sha to store for each of ``shas`` (cleaned), under the one rule for shas.

    A sha that abbreviates exactly one known commit is that commit's sha; one that abbreviates
    several stays as it is. A known commit stored abbreviated (a bare sha a deployment named)
    that a longer incoming sha extends takes the longer sha, so one commit is never stored twice;
    ``commit.sha_completed`` then tells the rest of the product, which rewrites what named the
    short form.
    """
    shas = sorted(set(shas))
    if not shas:
        return {}
    near = _near(organization, shas)
    settled: dict[str, str] = {}
    completions: dict[str, str] = {}
    for sha in shas:
        known = near.get(sha[:7], [])
        longer = [other for other in known if other.startswith(sha)]
        if len(longer) == 1:
            settled[sha] = longer[0]
            continue
        settled[sha] = sha
        if longer:
            continue  # known as is, or an ambiguous abbreviation
        shorter = [other for other in known if sha.startswith(other) and other not in completions]
        if shorter:
            completions[max(shorter, key=len)] = sha
    for short, full in sorted(completions.items()):
        try:
            with transaction.atomic():
                Commit.objects.for_organization(organization).filter(sha=short).update(sha=full)
        except IntegrityError:
            continue  # a concurrent request stored the full sha first: both rows stay
        events.publish(events.COMMIT_SHA_COMPLETED, organization=organization, short_sha=short, sha=full)
    return settled


_FILLABLE = ("message", "author_name", "author_email", "timestamp", "pr_number")


def commits_upsert(*, organization: Organization, commits: Sequence[CommitInput]) -> list[Commit]:
    """Store commits (already cleaned) with a constant number of queries; return them in input order.

    Existing commits keep their data; fields they lack are filled from the input, so a bare sha
    seen first in a deployment gains its timestamp when a push or release brings it.
    """
    if not commits:
        return []
    settled = commit_shas_settle(organization=organization, shas=[c.sha for c in commits])
    commits = [c if settled[c.sha] == c.sha else replace(c, sha=settled[c.sha]) for c in commits]
    repo_names = sorted({c.repository for c in commits if c.repository})
    repos = {name: repository_get_or_create(organization=organization, name=name) for name in repo_names}
    Commit.objects.bulk_create(
        [
            Commit(
                organization=organization,
                sha=c.sha,
                repository=repos.get(c.repository),
                message=c.message,
                author_name=c.author_name,
                author_email=c.author_email,
                timestamp=c.timestamp,
                pr_number=c.pr_number,
            )
            # In sha order: two requests inserting overlapping commits then take the row locks
            # in the same order and wait for each other instead of deadlocking.
            for c in sorted(commits, key=lambda c: c.sha)
        ],
        ignore_conflicts=True,
        # No batch_size: the backend picks it (one INSERT on PostgreSQL whatever the count, what
        # SQLite's parameter limit allows there), so the query count does not grow with the commits.
    )
    shas = [c.sha for c in commits]
    stored: dict[str, Commit] = {}
    chunk = _in_chunk()
    for start in range(0, len(shas), chunk):
        rows = Commit.objects.for_organization(organization).filter(sha__in=shas[start : start + chunk])
        for commit in rows.select_related("repository"):
            stored[commit.sha] = commit
    to_update: list[Commit] = []
    for c in commits:
        row = stored[c.sha]
        changed = False
        for name in _FILLABLE:
            if getattr(row, name) in ("", None) and getattr(c, name) not in ("", None):
                setattr(row, name, getattr(c, name))
                changed = True
        if row.repository_id is None and c.repository:
            row.repository = repos[c.repository]
            changed = True
        if changed:
            to_update.append(row)
    if to_update:
        Commit.objects.bulk_update(to_update, [*_FILLABLE, "repository"], batch_size=500)
    result = [stored[sha] for sha in shas]
    events.publish(events.COMMITS_STORED, organization=organization, commits=result)
    return result


@transaction.atomic
def commits_record(*, organization: Organization, commits: Iterable[CommitInput]) -> list[Commit]:
    """Clean, then store commits that arrive outside a release (a GitHub push, a git import)."""
    return commits_upsert(organization=organization, commits=_clean_commits(commits))


def _link_commits(
    *, organization: Organization, release: Release, commits: list[Commit], start: int | None = None
) -> list[ReleaseCommit]:
    """Append ``commits`` to the release from position ``start`` (default: after those it has)."""
    if start is None:
        start = release.release_commits.count()
    links = [
        ReleaseCommit(organization=organization, release=release, commit=commit, position=start + i)
        for i, commit in enumerate(commits)
    ]
    # Batch size left to the backend, as for the commits above.
    ReleaseCommit.objects.bulk_create(links, ignore_conflicts=True)
    return links


# Releases ----------------------------------------------------------------------------------


def _clean_release(
    *,
    version,
    name,
    ref,
    url,
    date_released,
    projects,
    commits,
    refs,
) -> _CleanRelease:
    projects, refs = projects or [], refs or []
    if len(projects) > MAX_PROJECTS:
        raise DomainError(f"at most {MAX_PROJECTS} projects per release", field="projects")
    if len(refs) > MAX_REFS:
        raise DomainError(f"at most {MAX_REFS} refs per request", field="refs")
    cleaned_projects = []
    for index, project in enumerate(projects):
        value = clean_model_text(Project, "name", project, field=f"projects.{index}", required=True)
        if value not in cleaned_projects:
            cleaned_projects.append(value)
    cleaned_refs = []
    for index, item in enumerate(refs):
        path = f"refs.{index}"
        cleaned_refs.append(
            RefInput(
                repository=clean_model_text(
                    Repository, "name", item.repository, field=f"{path}.repository", required=True
                ),
                commit=clean_sha(item.commit, field=f"{path}.commit"),
                previous_commit=(
                    clean_sha(item.previous_commit, field=f"{path}.previous_commit") if item.previous_commit else ""
                ),
            )
        )
    return _CleanRelease(
        version=clean_model_text(Release, "version", version, required=True),
        name=clean_model_text(Release, "name", name),
        ref=clean_model_text(Release, "ref", ref),
        url=clean_model_text(Release, "url", url),
        date_released=clean_time(date_released, field="date_released"),
        projects=cleaned_projects,
        commits=_clean_commits(commits or []),
        refs=cleaned_refs,
    )


def _fingerprint(data: _CleanRelease) -> dict:
    """What a repeat of the create call is compared with. Order of lists does not matter."""
    return {
        "name": data.name,
        "ref": data.ref,
        "url": data.url,
        # In UTC, so the same instant written with another offset is the same payload.
        "date_released": data.date_released.astimezone(UTC).isoformat() if data.date_released else None,
        "projects": sorted(data.projects),
        "commits": sorted(c.sha for c in data.commits),
        "refs": sorted([r.repository, r.commit, r.previous_commit] for r in data.refs),
    }


def _differences(stored: dict, new: dict) -> list[str]:
    return [key for key in new if stored.get(key) != new[key]]


def _store_refs(*, organization: Organization, release: Release, refs: list[RefInput]) -> list[ReleaseRef]:
    """Store the release's refs, one per repository (the last one sent wins); return them in that order."""
    stored: dict[int, ReleaseRef] = {}
    for ref in refs:
        repo = repository_get_or_create(organization=organization, name=ref.repository, field_name="refs.repository")
        row, _ = ReleaseRef.objects.update_or_create(
            organization=organization,
            release=release,
            repository=repo,
            defaults={"commit": ref.commit, "previous_commit": ref.previous_commit},
        )
        stored[repo.pk] = row
    return list(stored.values())


@transaction.atomic
def release_create(
    *,
    organization: Organization,
    version: str,
    projects: Sequence[str] = (),
    commits: Sequence[CommitInput] = (),
    name: str = "",
    ref: str = "",
    url: str = "",
    date_released: datetime | None = None,
    refs: Sequence[RefInput] = (),
    status: str = Release.Status.PENDING,
    source: str = Source.API,
    created_by: str = "",
    request_build: bool = False,
    created_at: datetime | None = None,
) -> tuple[Release, bool]:
    """Create a release with its projects, commits and refs, all or nothing.

    ``request_build`` queues a ``release.build_requested`` webhook per project (new releases only).
    ``created_at`` (default now) places an imported past release at its own time in the timeline.
    Idempotent: the same payload again returns ``(existing, False)``; the same version with a
    different payload raises ``Conflict`` naming the fields that differ. Races between identical
    requests are settled by the unique constraint on (organization, version).
    """
    data = _clean_release(
        version=version,
        name=name,
        ref=ref,
        url=url,
        date_released=date_released,
        projects=projects,
        commits=commits,
        refs=refs,
    )
    if status not in Release.Status.values:
        raise DomainError(f"must be one of: {', '.join(Release.Status.values)}", field="status")
    fingerprint = _fingerprint(data)

    existing = Release.objects.for_organization(organization).filter(version=data.version).first()
    if existing is None:
        try:
            with transaction.atomic():
                release = Release.objects.create(
                    organization=organization,
                    version=data.version,
                    name=data.name,
                    ref=data.ref,
                    url=data.url,
                    date_released=data.date_released,
                    status=status,
                    source=source,
                    created_by=created_by[: Release._meta.get_field("created_by").max_length],
                    create_payload=fingerprint,
                    **({"created_at": clean_time(created_at, field="created_at")} if created_at else {}),
                )
        except IntegrityError:
            existing = Release.objects.for_organization(organization).get(version=data.version)
        else:
            # Sorted for the same reason as commits: a fixed lock order between concurrent creates.
            by_name = {p: project_get_or_create(organization=organization, name=p) for p in sorted(data.projects)}
            project_rows = [by_name[p] for p in data.projects]
            ReleaseProject.objects.bulk_create(
                [ReleaseProject(organization=organization, release=release, project=p) for p in project_rows]
            )
            stored = commits_upsert(organization=organization, commits=data.commits)
            links = _link_commits(organization=organization, release=release, commits=stored, start=0)
            refs_stored = _store_refs(organization=organization, release=release, refs=data.refs)
            # What the release's detail shows, left where the selectors leave it: the answer to
            # the create needs no read back. Nothing else has written to the new release yet.
            release.commit_count = len(links)
            setattr(release, Release.PROJECTS_LOADED, sorted(project_rows, key=lambda p: p.name))
            setattr(release, Release.COMMIT_LINKS_LOADED, links)
            setattr(release, Release.REFS_LOADED, refs_stored)
            setattr(release, Release.DEPLOYMENTS_LOADED, [])
            events.publish(
                events.RELEASE_CREATED,
                organization=organization,
                release=release,
                projects=project_rows,
                build_requested=request_build,
            )
            return release, True

    differing = _differences(existing.create_payload, fingerprint)
    if differing:
        raise Conflict(
            f"release '{data.version}' already exists with different {', '.join(differing)}; "
            "a repeat of a create must send the same payload (use PATCH to change a release)",
            field="version",
            fields={name: ["differs from the existing release"] for name in differing},
        )
    return existing, False


@transaction.atomic
def release_add_commits(
    *, organization: Organization, release: Release, commits: Sequence[CommitInput], refs: Sequence[RefInput] = ()
) -> list[Commit]:
    """Append commits (and refs) to a release. Commits already in it are left as they are."""
    if release.organization_id != organization.pk:
        raise DomainError("release belongs to another organization", field="release")
    cleaned = _clean_commits(commits)
    data = _clean_release(
        version=release.version, name="", ref="", url="", date_released=None, projects=(), commits=(), refs=refs
    )
    stored = commits_upsert(organization=organization, commits=cleaned)
    _link_commits(organization=organization, release=release, commits=stored)
    _store_refs(organization=organization, release=release, refs=data.refs)
    Release.objects.filter(pk=release.pk).update(updated_at=timezone.now())
    events.publish(events.RELEASE_COMMITS_ADDED, organization=organization, release=release, commits=stored)
    return stored


_UPDATABLE = ("name", "url", "ref")


@transaction.atomic
def release_update(
    *,
    organization: Organization,
    release: Release,
    status: str | None = None,
    date_released: datetime | None = None,
    projects: Sequence[str] | None = None,
    archived: bool | None = None,
    **text_fields: str,
) -> Release:
    """Change a release's status (``success``/``failure``), name, url, ref, release date or projects,
    or archive it (``archived``; False restores it). Archiving only hides the release from Sentry's
    release lists: its deployments keep counting in the metrics."""
    if release.organization_id != organization.pk:
        raise DomainError("release belongs to another organization", field="release")
    changed = ["updated_at"]
    if archived is not None and archived != (release.archived_at is not None):
        release.archived_at = timezone.now() if archived else None
        changed.append("archived_at")
    if status is not None:
        if status not in Release.Status.values:
            raise DomainError(f"must be one of: {', '.join(Release.Status.values)}", field="status")
        release.status = status
        changed.append("status")
    if date_released is not None:
        release.date_released = clean_time(date_released, field="date_released")
        changed.append("date_released")
    for name, value in text_fields.items():
        if name not in _UPDATABLE:
            raise DomainError("cannot be changed", field=name)
        setattr(release, name, clean_model_text(Release, name, value))
        changed.append(name)
    release.save(update_fields=changed)
    if projects is not None:
        if len(projects) > MAX_PROJECTS:
            raise DomainError(f"at most {MAX_PROJECTS} projects per release", field="projects")
        for index, project in enumerate(projects):
            row = project_get_or_create(organization=organization, name=project, field_name=f"projects.{index}")
            ReleaseProject.objects.get_or_create(organization=organization, release=release, project=row)
    return release


def release_set_status(*, organization: Organization, release: Release, status: str) -> Release:
    return release_update(organization=organization, release=release, status=status)


# Entry points that name a repository by its URL ----------------------------------------------


def repository_from_url(*, organization: Organization, url: str, field_name: str = "repository_url") -> Repository:
    """The repository a URL names, created on first use: ``https://github.com/acme/api.git`` is
    ``acme/api``; a URL without a path names its host."""
    url = clean_model_text(Repository, "url", url, field=field_name, required=True)
    parts = urlsplit(url)
    name = parts.path.strip("/").removesuffix(".git") or parts.netloc
    return repository_get_or_create(organization=organization, name=name, url=url, field_name=field_name)


# Release candidates (Aviator's X-rcN) -------------------------------------------------------
# Kept together at the end of the module, with the reports of releases made elsewhere below.

RELEASE_CANDIDATE_RE = re.compile(r"^.+-rc\d+$")


def release_candidate_version_clean(version, *, field: str = "version") -> str:
    """A release candidate's version: a release version that ends in ``-rcN`` (``1.4.0-rc2``)."""
    version = clean_model_text(Release, "version", version, field=field, required=True)
    if not RELEASE_CANDIDATE_RE.match(version):
        raise DomainError("must end in -rc<N>, for example 1.4.0-rc2", field=field)
    return version


@dataclass(frozen=True)
class ReleaseCandidate:
    """A release candidate as its caller shows it: the release, the version as its project calls
    it, and what it was cut from."""

    release: Release
    project: str
    version: str
    repository: str
    commit: str
    created: bool


def _candidate_differences(stored: dict, *, project: str, repository: str, sha: str) -> list[str]:
    """What a cut names that the candidate's create payload (``_fingerprint``) does not, in the cut's words."""
    same = {
        "project": stored.get("projects") == [project],
        "repository": [ref[0] for ref in stored.get("refs", [])] == [repository],
        "commit": stored.get("commits") == [sha],
    }
    return [name for name, equal in same.items() if not equal]


@transaction.atomic
def release_candidate_create(
    *,
    organization: Organization,
    project: str,
    version: str,
    repository: str,
    commit: str,
    request_build: bool = False,
    source: str = Source.API,
    created_by: str = "",
) -> ReleaseCandidate:
    """Cut release candidate ``version`` (``X-rcN``) of ``project`` at ``commit`` of ``repository``.

    Candidates are unique per project: one is the release ``<project>@<version>``
    (``Release.candidate_key``) named ``version``, so another project's candidate of the same
    version is another release. An organization that registered repositories cuts candidates from
    those only (any other is ``NotFound``); one that registered none has the repository created on
    first use, as every other entry point does. The project's candidate of that version again
    (``release_candidate_get``: also a release ``version`` of the project recorded elsewhere) is
    returned, ``created`` False, when it was cut from the same repository and commit, else a
    ``Conflict`` naming what differs. ``request_build`` asks for the project's build workflow when
    the candidate is new (``release.created``).
    """
    version = release_candidate_version_clean(version)
    sha = clean_sha(commit, field="commit")
    project = clean_model_text(Project, "name", project, field="project", required=True)
    repository = clean_model_text(Repository, "name", repository, field="repository", required=True)
    key = Release.candidate_key(project, version)
    limit = Release._meta.get_field("version").max_length
    if len(key) > limit:
        raise DomainError(f"with '{project}@' before it, must be at most {limit} characters", field="version")
    registered = Repository.objects.for_organization(organization)
    if registered.exists() and not registered.filter(name=repository).exists():
        raise NotFound(f"repository '{repository}' is not registered in this organization", field="repository")
    existing = release_candidate_get(organization=organization, project=project, version=version)
    if existing is None:
        try:
            release, created = release_create(
                organization=organization,
                version=key,
                name=version,
                projects=[project],
                commits=[CommitInput(sha=sha, repository=repository)],
                refs=[RefInput(repository=repository, commit=sha)],
                source=source,
                created_by=created_by,
                request_build=request_build,
            )
        except Conflict:  # another cut of this candidate, from elsewhere, was stored meanwhile
            existing = release_candidate_get(organization=organization, project=project, version=version)
        else:
            return ReleaseCandidate(release, project, version, repository, sha, created)
    differing = _candidate_differences(existing.create_payload, project=project, repository=repository, sha=sha)
    if differing:
        raise Conflict(
            f"release candidate {version} of {project} already exists with a different {', '.join(differing)}",
            field="version",
            fields={name: ["differs from the existing release candidate"] for name in differing},
        )
    return ReleaseCandidate(existing, project, version, repository, sha, False)


# The CI run that carries a release or a deployment out (Aviator's GitHub Actions sync calls) ----


RUN_ID_DIGITS = re.compile(r"[0-9]{1,30}")


def workflow_run_id_clean(value, *, model=Release, field: str = "workflow_run_id") -> int:
    """A GitHub Actions run id (``github.run_id``): a whole number, or its digits as a string (the
    form Aviator's workflow sends), within ``model``'s ``workflow_run_id`` column."""
    if isinstance(value, str) and RUN_ID_DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DomainError("must be the workflow run's id, a positive whole number", field=field)
    internal_type = model._meta.get_field("workflow_run_id").get_internal_type()
    _, highest = connection.ops.integer_field_range(internal_type)
    if value > highest:
        raise DomainError(f"must be at most {highest}", field=field)
    return value


@transaction.atomic
def release_workflow_run_set(*, organization: Organization, release: Release, workflow_run_id) -> Release:
    """Link the CI run that builds ``release`` (Aviator's sync-build call, the build workflow's
    first step). The latest call wins: a build dispatched again reports its new run."""
    run_id = workflow_run_id_clean(workflow_run_id)
    if release.organization_id != organization.pk:
        raise DomainError("release belongs to another organization", field="release")
    release.workflow_run_id = run_id
    release.save(update_fields=["workflow_run_id", "updated_at"])
    return release


# Releases reported after the fact (a GitHub release event, a git import) ---------------------


def release_create_or_keep(*, organization: Organization, version: str, **fields) -> tuple[Release, bool]:
    """``release_create``, except that a version already recorded with another payload is kept as
    it is and returned, ``created`` False, rather than refused.

    For sources that report what already happened (a release published on GitHub, a git tag),
    where the first report wins: CI usually reports the release first, with its commits.
    """
    try:
        return release_create(organization=organization, version=version, **fields)
    except Conflict:
        return Release.objects.for_organization(organization).get(version=version.strip()), False


@transaction.atomic
def release_publish(
    *,
    organization: Organization,
    version: str,
    project: str,
    name: str = "",
    ref: str = "",
    url: str = "",
    date_released: datetime | None = None,
    source: str = Source.API,
    created_by: str = "",
) -> tuple[Release, bool, list[str]]:
    """A release published elsewhere (a GitHub release): recorded as a successful release of
    ``project``, or, when the version is already recorded, kept and given the url and release
    date it lacks. Returns ``(release, created, names of the fields filled in)``."""
    release, created = release_create_or_keep(
        organization=organization,
        version=version,
        name=name,
        ref=ref,
        url=url,
        date_released=date_released,
        projects=[project],
        status=Release.Status.SUCCESS,
        source=source,
        created_by=created_by,
    )
    if created:
        return release, True, []
    missing: dict = {}
    if url and not release.url:
        missing["url"] = url
    if date_released and not release.date_released:
        missing["date_released"] = date_released
    if missing:
        release = release_update(organization=organization, release=release, **missing)
    return release, False, list(missing)


def _chunks(items: Sequence) -> Iterable[Sequence]:
    """``items`` in slices of at most ``MAX_COMMITS_PER_REQUEST``, the most one call takes."""
    return (items[start : start + MAX_COMMITS_PER_REQUEST] for start in range(0, len(items), MAX_COMMITS_PER_REQUEST))


@transaction.atomic
def release_commits_complete(*, organization: Organization, release: Release, commits: Sequence[CommitInput]) -> int:
    """Append to ``release`` the commits it does not list yet, in order, any number of them;
    the commits it lists gain the details they lacked (author, time, message). Returns how many
    commits were appended. Nothing changes when the release lists them all, complete."""
    cleaned = [commit for chunk in _chunks(commits) for commit in _clean_commits(chunk)]
    listed = set(
        ReleaseCommit.objects.for_organization(organization)
        .filter(release=release)
        .values_list("commit__sha", flat=True)
    )
    missing = [commit for commit in cleaned if commit.sha not in listed]
    for chunk in _chunks([commit for commit in cleaned if commit.sha in listed]):
        commits_upsert(organization=organization, commits=chunk)
    for chunk in _chunks(missing):
        release_add_commits(organization=organization, release=release, commits=chunk)
    return len(missing)


@transaction.atomic
def repository_commits_record(
    *, organization: Organization, repository: str, commits: Iterable[CommitInput], url: str = "", provider: str = ""
) -> list[Commit]:
    """Commits pushed to ``repository`` (the commits name it): the repository, created on first use
    or given the URL it lacked, and its commits, all or nothing. Commits already known gain the
    details they lacked."""
    repository_get_or_create(organization=organization, name=repository, url=url, provider=provider)
    return commits_record(organization=organization, commits=commits)
