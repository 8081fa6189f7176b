"""Sentry's release routes over our services: authenticate, translate, call a service, render.

A Sentry project is our Project (its slug is the project's name), a Sentry repository our
Repository, a Sentry deploy our Deployment (status success: Sentry only records finished ones).
"""

from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from deployments.models import Deployment, DeploymentStatus
from deployments.services import deployment_record
from releases.compat.sentry import shapes
from releases.compat.sentry.http import (
    NOT_FOUND,
    READ,
    WRITE,
    Call,
    SentryError,
    authenticate,
    bad_request,
    get_list,
    get_text,
    get_time,
    not_found,
    paginate,
    respond,
    sentry_endpoint,
)
from releases.models import Project, Release, ReleaseCommit, ReleaseRef, Repository, Source
from releases.services import CommitInput, RefInput, release_add_commits, release_create, release_update
from releasetracker.errors import Conflict
from releasetracker.models import ApiToken
from releasetracker.validation import clean_sha, clean_text

# Sentry refuses these in versions (its Release.is_valid_version); "/" would also break our URLs.
_BAD_VERSION_CHARS = "\r\n\f\t/\\"
_RESERVED_VERSIONS = {".", "..", "latest"}


@csrf_exempt
def index(request: HttpRequest) -> JsonResponse:
    """``GET /api/0/``: what ``sentry-cli info`` shows. Without a token Sentry answers ``auth: null``."""
    if request.method != "GET":
        return respond({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    try:
        token = authenticate(request)
    except SentryError as exc:
        return respond({"detail": exc.detail}, status=exc.status)
    auth = None
    if token is not None:
        scopes = ["org:read", "project:read"]
        if token.has_scope(ApiToken.Scope.WRITE):
            scopes += ["project:releases", "project:write"]
        auth = {"scopes": scopes}
    return respond({"version": "0", "auth": auth, "user": None})


@csrf_exempt
def unknown_route(request: HttpRequest) -> JsonResponse:
    return respond({"detail": NOT_FOUND}, status=404)


# Lookups -------------------------------------------------------------------------------------


def _project(call: Call, slug: str | None) -> Project | None:
    if slug is None:
        return None
    project = Project.objects.for_organization(call.organization).filter(name=slug).first()
    if project is None:
        raise not_found()
    return project


def _release(call: Call, version: str, project: Project | None = None) -> Release:
    queryset = shapes.release_queryset(organization=call.organization).filter(version=version)
    if project is not None:
        queryset = queryset.filter(Exists(Project.objects.filter(pk=project.pk, releases=OuterRef("pk"))))
    release = queryset.first()
    if release is None:
        raise not_found()
    return release


def _reload(call: Call, release: Release) -> dict:
    return shapes.release_json(_release(call, release.version), organization=call.organization)


# Input translation ---------------------------------------------------------------------------


def _clean_version(value) -> str:
    version = clean_text(value, field="version", max_length=200, required=True)
    if any(c in version for c in _BAD_VERSION_CHARS) or version.lower() in _RESERVED_VERSIONS:
        raise bad_request(
            "version", f"'{version}' is not allowed (no slashes, tabs or newlines; not '.', '..', 'latest')"
        )
    return version


def _str(item: dict, key: str):
    # Missing and null are "not given"; any other non-string reaches the service, which names it.
    value = item.get(key)
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


def _commits_and_refs(call: Call, body: dict) -> tuple[list[CommitInput], list[RefInput]]:
    """Sentry's ``commits`` (as ``set-commits --local`` sends them) and ``refs`` (``--commit REPO@[PREV..]SHA``)."""
    commits = []
    for index, item in enumerate(get_list(body, "commits", of=dict) or []):
        commits.append(
            CommitInput(
                sha=clean_sha(item.get("id"), field=f"commits.{index}.id"),
                repository=_str(item, "repository"),
                message=_str(item, "message"),
                author_name=_str(item, "author_name"),
                author_email=_str(item, "author_email"),
                timestamp=get_time(item, "timestamp", field=f"commits.{index}.timestamp"),
            )
        )
    refs = []
    for index, item in enumerate(get_list(body, "refs", of=dict) or []):
        repository = item.get("repository")
        if not isinstance(repository, str) or not repository.strip():
            raise bad_request(f"refs.{index}.repository", "must be the name of a repository")
        previous = item.get("previousCommit")
        refs.append(
            RefInput(
                repository=repository.strip(),
                commit=clean_sha(item.get("commit"), field=f"refs.{index}.commit"),
                previous_commit=clean_sha(previous, field=f"refs.{index}.previousCommit") if previous else "",
            )
        )
    names = {ref.repository for ref in refs} | {c.repository for c in commits if isinstance(c.repository, str)}
    known = set(
        Repository.objects.for_organization(call.organization).filter(name__in=names).values_list("name", flat=True)
    )
    unknown_refs = {ref.repository for ref in refs} - known
    if unknown_refs:
        # Sentry's answer: refs only name repositories registered beforehand (sentry-cli checks too).
        raise SentryError(400, f"Invalid repository names: {','.join(sorted(unknown_refs))}")
    for commit in commits:
        # ``set-commits --local`` names the git remote ("origin"), not a repository: such a name
        # is kept only when registered. An unknown "owner/repo" is created, as Sentry does.
        if isinstance(commit.repository, str) and commit.repository not in known and "/" not in commit.repository:
            commit.repository = ""
    # The head commit is part of the release: it gives the release a commit for lead time.
    listed = {c.sha for c in commits}
    commits += [CommitInput(sha=r.commit, repository=r.repository) for r in refs if r.commit not in listed]
    return commits, refs


def _add_commits(call: Call, release: Release, commits: list[CommitInput], refs: list[RefInput]) -> None:
    if commits or refs:
        release_add_commits(organization=call.organization, release=release, commits=commits, refs=refs)


# Routes --------------------------------------------------------------------------------------


@sentry_endpoint({"GET": READ})
def repos(call: Call) -> JsonResponse:
    queryset = Repository.objects.for_organization(call.organization).order_by("name", "id")
    query = call.request.GET.get("query", "").strip()
    if query:
        queryset = queryset.filter(name__icontains=query)
    rows, headers = paginate(call.request, queryset)
    return respond([shapes.repository_json(r) for r in rows], headers=headers)


@sentry_endpoint({"GET": READ, "POST": WRITE})
def releases(call: Call, project_slug: str | None = None) -> JsonResponse:
    if call.request.method == "POST":
        return _release_create(call, project_slug)
    queryset = shapes.release_queryset(organization=call.organization)
    project = _project(call, project_slug)
    if project is not None:
        queryset = queryset.filter(Exists(Project.objects.filter(pk=project.pk, releases=OuterRef("pk"))))
    query = call.request.GET.get("query", "").strip()
    if query:
        queryset = queryset.filter(version__icontains=query)
    rows, headers = paginate(call.request, queryset)
    return respond(shapes.releases_json(rows, organization=call.organization), headers=headers)


def _release_create(call: Call, project_slug: str | None) -> JsonResponse:
    """201 for a new version; 208 for an existing one, which gains any new projects, commits and refs (as Sentry)."""
    body = call.body
    version = _clean_version(body.get("version"))
    projects = get_list(body, "projects", of=str) or []
    if project_slug is not None and project_slug not in projects:
        projects = [project_slug, *projects]
    commits, refs = _commits_and_refs(call, body)
    release = Release.objects.for_organization(call.organization).filter(version=version).first()
    if release is None:
        try:
            release, created = release_create(
                organization=call.organization,
                version=version,
                projects=projects,
                commits=commits,
                refs=refs,
                ref=get_text(body, "ref") or "",
                url=get_text(body, "url") or "",
                date_released=get_time(body, "dateReleased"),
                source=Source.SENTRY,
                created_by=call.created_by,
            )
        except Conflict:
            # A concurrent create of the same version won: Sentry answers 208 whatever the body.
            release, created = Release.objects.for_organization(call.organization).get(version=version), False
        if created:
            return respond(_reload(call, release), status=201)
    if projects:
        release_update(organization=call.organization, release=release, projects=projects)
    _add_commits(call, release, commits, refs)
    return respond(_reload(call, release), status=208)


@sentry_endpoint({"GET": READ, "PUT": WRITE})
def release_detail(call: Call, version: str, project_slug: str | None = None) -> JsonResponse:
    release = _release(call, version, _project(call, project_slug))
    if call.request.method == "GET":
        return respond(shapes.release_json(release, organization=call.organization))
    body = call.body
    status = body.get("status")
    if status not in (None, "open"):
        raise bad_request("status", "only 'open' is supported: releases are not archived here")
    for key in ("refs", "commits"):
        if body.get(key) == []:
            # ``set-commits --clear`` sends ``{"refs": []}``: Sentry replaces the list; here commits are
            # only ever added, and answering success would claim a clear that did not happen.
            raise bad_request(key, "clearing a release's commits is not supported; commits are only ever added")
    text = {key: value for key in ("url", "ref") if (value := get_text(body, key)) is not None}
    commits, refs = _commits_and_refs(call, body)
    release_update(
        organization=call.organization,
        release=release,
        date_released=get_time(body, "dateReleased"),
        projects=get_list(body, "projects", of=str),
        **text,
    )
    _add_commits(call, release, commits, refs)
    return respond(_reload(call, release))


@sentry_endpoint({"GET": READ})
def release_commits(call: Call, version: str, project_slug: str | None = None) -> JsonResponse:
    release = _release(call, version, _project(call, project_slug))
    queryset = (
        ReleaseCommit.objects.for_organization(call.organization)
        .filter(release=release)
        .select_related("commit__repository")
        .order_by("position", "id")
    )
    rows, headers = paginate(call.request, queryset)
    return respond([shapes.commit_json(row.commit) for row in rows], headers=headers)


@sentry_endpoint({"GET": READ})
def previous_with_commits(call: Call, version: str, project_slug: str | None = None) -> JsonResponse:
    """The newest earlier release sharing a project that has commits; ``{}`` when there is none (as Sentry)."""
    release = _release(call, version, _project(call, project_slug))
    queryset = (
        shapes.release_queryset(organization=call.organization)
        .filter(Q(created_at__lt=release.created_at) | Q(created_at=release.created_at, pk__lt=release.pk))
        .filter(
            Exists(ReleaseCommit.objects.filter(release=OuterRef("pk")))
            | Exists(ReleaseRef.objects.filter(release=OuterRef("pk")))
        )
    )
    project_ids = [p.pk for p in release.projects_by_name]
    if project_ids:
        queryset = queryset.filter(Exists(Project.objects.filter(pk__in=project_ids, releases=OuterRef("pk"))))
    previous = queryset.first()
    if previous is None:
        return respond({})
    return respond(shapes.release_json(previous, organization=call.organization))


@sentry_endpoint({"GET": READ, "POST": WRITE})
def release_deploys(call: Call, version: str, project_slug: str | None = None) -> JsonResponse:
    project = _project(call, project_slug)
    release = _release(call, version, project)
    if call.request.method == "GET":
        queryset = (
            Deployment.objects.for_organization(call.organization)
            .filter(release=release)
            .select_related("environment")
            .order_by("-occurred_at", "-id")
        )
        rows, headers = paginate(call.request, queryset)
        return respond([shapes.deploy_json(d) for d in rows], headers=headers)

    body = call.body
    projects = get_list(body, "projects", of=str) or []
    # Our deployment has one project: the named one, else the service's choice (a release's only project).
    project_name = project.name if project is not None else (projects[0] if len(projects) == 1 else None)
    deployment, _ = deployment_record(
        organization=call.organization,
        environment=body.get("environment"),
        release=release,
        project=project_name,
        status=DeploymentStatus.SUCCESS,
        started_at=get_time(body, "dateStarted"),
        # Sentry's default: a deploy without an end time finished now.
        finished_at=get_time(body, "dateFinished") or timezone.now(),
        title=get_text(body, "name") or "",
        url=get_text(body, "url") or "",
        source=Source.SENTRY,
        created_by=call.created_by,
    )
    return respond(shapes.deploy_json(deployment), status=201)
