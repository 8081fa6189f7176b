"""Sentry's release routes: parse, one service call or selector, render.

A Sentry project is our Project (its slug is the project's name), a Sentry repository our
Repository, a Sentry deploy our Deployment (status success: Sentry only records finished ones).
"""

from django.http import JsonResponse
from rest_framework.exceptions import NotFound

from deployments.models import DeploymentStatus
from deployments.selectors import release_deployment_list, release_summaries
from deployments.services import (
    artifact_upload_refuse,
    deployment_record,
    release_create_or_extend,
    release_extend,
)
from integrations.base import invalid
from integrations.sentry import parse, shapes
from integrations.sentry.base import OptionalSentryAuthentication, OrganizationView, SentryView, respond
from releases.models import Project, Release, Source
from releases.selectors import (
    project_get_by_name,
    release_commit_list,
    release_get_by_version,
    release_previous_with_commits,
    release_search,
    repository_search,
)
from releasetracker.models import ApiToken


class Index(SentryView):
    """``GET /api/0/``: what ``sentry-cli info`` shows. Without a token Sentry answers ``auth: null``."""

    authentication_classes = [OptionalSentryAuthentication]
    permission_classes = ()

    def get(self, request) -> JsonResponse:
        auth = None
        if self.token is not None:
            scopes = ["org:read", "project:read"]
            if self.token.has_scope(ApiToken.Scope.WRITE):
                scopes += ["project:releases", "project:write"]
            auth = {"scopes": scopes}
        return respond({"version": "0", "auth": auth, "user": None})


class ReleaseView(OrganizationView):
    """A route that names releases, in an organization or in one of its projects."""

    def project(self, slug: str | None) -> Project | None:
        if slug is None:
            return None
        project = project_get_by_name(organization=self.organization, name=slug)
        if project is None:
            raise NotFound()
        return project

    def release(self, version: str, project: Project | None) -> Release:
        release = release_get_by_version(organization=self.organization, version=version, project=project)
        if release is None:
            raise NotFound()
        return release

    def summary(self, release: Release) -> dict:
        return shapes.release_json(release_summaries(organization=self.organization, releases=[release])[0])


class Repositories(OrganizationView):
    def get(self, request, org_slug: str) -> JsonResponse:
        query = request.query_params.get("query", "").strip()
        repositories = repository_search(organization=self.organization, query=query)
        return self.page(repositories, lambda rows: [shapes.repository_json(r) for r in rows])


class Releases(ReleaseView):
    def get(self, request, org_slug: str, project_slug: str | None = None) -> JsonResponse:
        """Open releases only, as Sentry lists them; the organization's list takes Sentry's ``status``."""
        releases = release_search(
            organization=self.organization,
            project=self.project(project_slug),
            query=request.query_params.get("query", "").strip(),
            archived=False if project_slug is not None else parse.listed_status(request.query_params),
        )
        return self.page(releases, self.render)

    def render(self, rows: list[Release]) -> list[dict]:
        return [shapes.release_json(s) for s in release_summaries(organization=self.organization, releases=rows)]

    def post(self, request, org_slug: str, project_slug: str | None = None) -> JsonResponse:
        """201 for a new version; 208 for an existing one, which gains any new projects, commits
        and refs and takes the ``status`` sent (as Sentry answers, whatever the rest of the body)."""
        body = self.body()
        version = parse.version(body)
        projects = parse.projects(body) or []
        if project_slug is not None and project_slug not in projects:
            projects = [project_slug, *projects]
        summary, created = release_create_or_extend(
            organization=self.organization,
            version=version,
            projects=projects,
            commits=parse.commits(body),
            refs=parse.refs(body),
            ref=parse.text(body, "ref") or "",
            url=parse.text(body, "url") or "",
            date_released=parse.time(body, "dateReleased"),
            archived=parse.status(body),
            source=Source.SENTRY,
            created_by=self.created_by,
        )
        return respond(shapes.release_json(summary), status=201 if created else 208)


class ReleaseDetail(ReleaseView):
    def get(self, request, org_slug: str, version: str, project_slug: str | None = None) -> JsonResponse:
        return respond(self.summary(self.release(version, self.project(project_slug))))

    def put(self, request, org_slug: str, version: str, project_slug: str | None = None) -> JsonResponse:
        """Finalize (``dateReleased``, ``url``), ``set-commits`` (``refs``, ``commits``), archive and
        restore (``status``)."""
        release = self.release(version, self.project(project_slug))
        body = self.body()
        for key in ("refs", "commits"):
            if body.get(key) == []:
                # ``set-commits --clear`` sends ``{"refs": []}``: Sentry replaces the list; here commits
                # are only ever added, and answering success would claim a clear that did not happen.
                raise invalid(key, "clearing a release's commits is not supported; commits are only ever added")
        text = {key: value for key in ("url", "ref") if (value := parse.text(body, key)) is not None}
        summary = release_extend(
            organization=self.organization,
            release=release,
            projects=parse.projects(body),
            commits=parse.commits(body),
            refs=parse.refs(body),
            date_released=parse.time(body, "dateReleased"),
            archived=parse.status(body),
            client=self.client,
            **text,
        )
        return respond(shapes.release_json(summary))


class ReleaseCommits(ReleaseView):
    def get(self, request, org_slug: str, version: str, project_slug: str | None = None) -> JsonResponse:
        release = self.release(version, self.project(project_slug))
        links = release_commit_list(organization=self.organization, release=release)
        return self.page(links, lambda rows: [shapes.commit_json(link.commit) for link in rows])


class PreviousWithCommits(ReleaseView):
    def get(self, request, org_slug: str, version: str, project_slug: str | None = None) -> JsonResponse:
        """The newest earlier release sharing a project that has commits; ``{}`` when there is none (as Sentry)."""
        release = self.release(version, self.project(project_slug))
        previous = release_previous_with_commits(organization=self.organization, release=release)
        return respond(self.summary(previous) if previous is not None else {})


class Deploys(ReleaseView):
    def get(self, request, org_slug: str, version: str, project_slug: str | None = None) -> JsonResponse:
        release = self.release(version, self.project(project_slug))
        deployments = release_deployment_list(organization=self.organization, release=release)
        return self.page(deployments, lambda rows: [shapes.deploy_json(d) for d in rows])

    def post(self, request, org_slug: str, version: str, project_slug: str | None = None) -> JsonResponse:
        project = self.project(project_slug)
        release = self.release(version, project)
        body = self.body()
        projects = parse.projects(body) or []
        deployment, _ = deployment_record(
            organization=self.organization,
            environment=body.get("environment"),
            release=release,
            # Our deployment has one project: the route's, else the one the body names, else the
            # service's choice (a release's only project).
            project=project or (projects[0] if len(projects) == 1 else None),
            status=DeploymentStatus.SUCCESS,
            started_at=parse.time(body, "dateStarted"),
            # Without dateFinished, the service's finish time of a successful deployment: now, Sentry's default.
            finished_at=parse.time(body, "dateFinished"),
            title=parse.text(body, "name") or "",
            url=parse.text(body, "url") or "",
            source=Source.SENTRY,
            created_by=self.created_by,
        )
        return respond(shapes.deploy_json(deployment), status=201)


class Artifacts(OrganizationView):
    """Where ``sentry-cli`` uploads and lists artifacts (source maps, debug files, release files).

    Every call is refused with a message the CLI prints and a 4xx, so the command exits non-zero.
    Not a 404: the CLI reports that as a missing organization or release, and 2.x takes a 404
    from ``chunk-upload/`` for an older server and falls back to other upload routes.
    """

    def get(self, request, **kwargs):
        artifact_upload_refuse(organization=self.organization, client=self.client)

    post = put = delete = get
