"""Release pages: the timeline and a release's own page. Thin: a filter form, a selector, a template."""

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.timezone import localtime

from deployments.models import DeploymentStatus
from deployments.selectors import (
    environment_list,
    release_compare_by_name,
    release_get,
    release_latest_deployments,
    release_timeline,
)
from incidents.selectors import incidents_of_deployments
from metrics.selectors import deployment_recoveries
from releases.models import Release
from releases.selectors import COMPARE_COMMIT_LIMIT, project_list, release_list, release_previous
from releases.serializers import ReleaseSerializer
from releasetracker.api.serializers import model_max_length
from releasetracker.errors import DomainError
from releasetracker.exports import serializer_csv_response, wants_csv
from releasetracker.page_helpers import (
    DateRangeMixin,
    OrgFilterForm,
    QueryFilterForm,
    paginate,
    query_without,
)
from releasetracker.pages import org_page, page_context


class TimelineFilterForm(DateRangeMixin, OrgFilterForm):
    field_order = ["q", "project", "environment", "status", "since", "until"]
    q = forms.CharField(required=False, max_length=200, label="Version")
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *DeploymentStatus.choices],
        help_text="latest deployment status (in the chosen environment, or in any)",
    )


@org_page
def timeline(request: HttpRequest) -> HttpResponse:
    org = request.org
    projects = list(project_list(organization=org).values_list("name", flat=True))
    environments = list(environment_list(organization=org).values_list("name", flat=True))
    form = TimelineFilterForm(request.GET, projects=projects, environments=environments)
    filters = form.filters()
    since, until = form.bounds()
    # The selector takes From and To as the times they stand for (days of the organization's zone).
    query = {**filters, "since": since, "until": until}
    if wants_csv(request) and not form.errors:
        return serializer_csv_response(
            release_timeline(organization=org, **query), ReleaseSerializer, filename="releases.csv"
        )
    page, per_page = paginate(request, release_timeline(organization=org, **query))
    releases = list(page.object_list)
    chips = release_latest_deployments(organization=org, release_ids=[release.pk for release in releases])
    for release in releases:
        release.chips = chips.get(release.pk, [])
        # Grouped by the day it was created on in the organization's time zone.
        release.local_day = localtime(release.created_at).date()
    context = page_context(
        request,
        form=form,
        filtered=bool(filters),
        page=page,
        per_page=per_page,
        releases=releases,
        page_query=query_without(request, "page"),
        csv_query=query_without(request, "page", "per_page", "format"),
        nav="releases",
        base_url=request.build_absolute_uri("/"),
    )
    return render(request, "releases/timeline.html", context, status=400 if form.errors else 200)


def _environment_groups(release: Release, *, organization) -> list[dict]:
    """The release's deployments grouped by environment (production first), newest first in each,
    each with the incidents linked to it and, for a failed change, what restored it (a query each
    for all)."""
    groups: dict[int, dict] = {}
    deployments = release.deployments_newest_first
    linked = incidents_of_deployments(organization=organization, deployment_ids=[d.pk for d in deployments])
    recoveries = deployment_recoveries(organization=organization, deployments=deployments)
    for deployment in deployments:
        deployment.linked_incidents = linked.get(deployment.pk, [])
        deployment.recovery = recoveries.get(deployment.pk)
        group = groups.setdefault(deployment.environment_id, {"environment": deployment.environment, "deployments": []})
        history = deployment.history
        for change, following in zip(history, [*history[1:], None], strict=True):
            # How long each status lasted: until the next change (the last one is still current).
            change.lasted = (following.at - change.at).total_seconds() if following else None
        group["deployments"].append(deployment)
    return sorted(groups.values(), key=lambda g: (not g["environment"].is_production, g["environment"].name))


def _commits_newest_first(release: Release) -> list:
    """The release's commits by commit time, newest first (those without a time last, as sent)."""
    commits = [link.commit for link in release.commit_links]
    dated = sorted((c for c in commits if c.timestamp), key=lambda c: c.timestamp, reverse=True)
    return dated + [c for c in commits if not c.timestamp]


def _where_deployed(groups: list[dict]) -> dict | None:
    """The heading's state: the latest deployment to the first environment (production first)."""
    if not groups:
        return None
    latest = groups[0]["deployments"][0]
    return {"deployment": latest, "environment": groups[0]["environment"]}


@org_page
def release_detail(request: HttpRequest, key: str) -> HttpResponse:
    release = release_get(organization=request.org, key=key)
    if release is None:
        raise Http404("No such release")
    refs = release.ref_list
    groups = _environment_groups(release, organization=request.org)
    projects = release.projects_by_name
    context = page_context(
        request,
        release=release,
        commits=_commits_newest_first(release),
        environment_groups=groups,
        where_deployed=_where_deployed(groups),
        refs=refs,
        # Where its build and deploy workflows run (their runs link there): its one repository.
        run_repository=refs[0].repository if len(refs) == 1 else None,
        previous=release_previous(organization=request.org, release=release),
        production=environment_list(organization=request.org).filter(is_production=True).first(),
        # The compare links name the release's project when it has one (else the compare finds it).
        single_project=projects[0].name if len(projects) == 1 else "",
        nav="releases",
    )
    return render(request, "releases/detail.html", context)


# Compare ------------------------------------------------------------------------------------------

# The versions the compare form offers to complete (the newest ones; any version can be typed).
SUGGESTED_VERSIONS = 50


class CompareForm(QueryFilterForm):
    """Each side is a version or the environment whose live release it is."""

    base = forms.CharField(required=False, max_length=model_max_length(Release, "version"), label="Base version")
    base_environment = forms.ChoiceField(required=False, label="or what is live in")
    head = forms.CharField(required=False, max_length=model_max_length(Release, "version"), label="Head version")
    head_environment = forms.ChoiceField(required=False, label="or what is live in")
    project = forms.ChoiceField(required=False)

    def __init__(self, data, *, projects: list[str], environments: list[str]):
        super().__init__(data)
        for name in ("base_environment", "head_environment"):
            self.fields[name].choices = [("", "—"), *((env, env) for env in environments)]
        self.fields["project"].choices = [("", "Their shared project"), *((name, name) for name in projects)]
        for name in ("base", "head"):
            self.fields[name].widget.attrs.update({"list": "versions", "autocomplete": "off", "spellcheck": "false"})


@org_page
def compare(request: HttpRequest) -> HttpResponse:
    """What the head brings over the base (``release_compare_by_name``), with the form to choose them."""
    org = request.org
    projects = list(project_list(organization=org).values_list("name", flat=True))
    environments = list(environment_list(organization=org).values_list("name", flat=True))
    form = CompareForm(request.GET, projects=projects, environments=environments)
    comparison = None
    status = 200
    if form.is_bound and form.data and form.is_valid():
        try:
            comparison = release_compare_by_name(organization=org, **form.cleaned_data, limit=COMPARE_COMMIT_LIMIT)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
            status = error.status
    elif form.errors:
        status = 400
    context = page_context(
        request,
        form=form,
        comparison=comparison,
        versions=list(release_list(organization=org).values_list("version", flat=True)[:SUGGESTED_VERSIONS]),
        nav="compare",
    )
    return render(request, "releases/compare.html", context, status=status)
