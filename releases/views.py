"""Release pages: the timeline and a release's own page. Thin: a filter form, a selector, a template."""

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.models import DeploymentStatus
from deployments.selectors import (
    deployment_recoveries,
    environment_list,
    release_get,
    release_latest_deployments,
    release_timeline,
)
from releases.models import Release
from releases.selectors import project_list
from releasetracker.page_helpers import DateRangeMixin, QueryFilterForm, day_end, day_start, paginate, query_without
from releasetracker.pages import org_page, page_context


class TimelineFilterForm(DateRangeMixin, QueryFilterForm):
    field_order = ["q", "project", "environment", "status", "since", "until"]
    q = forms.CharField(required=False, max_length=200, label="Version")
    project = forms.ChoiceField(required=False)
    environment = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *DeploymentStatus.choices],
        help_text="latest deployment status (in the chosen environment, or in any)",
    )

    def __init__(self, data, *, projects: list[str], environments: list[str]):
        super().__init__(data)
        self.fields["project"].choices = [("", "All projects"), *((name, name) for name in projects)]
        self.fields["environment"].choices = [("", "All environments"), *((name, name) for name in environments)]


@org_page
def timeline(request: HttpRequest) -> HttpResponse:
    org = request.org
    projects = list(project_list(organization=org).values_list("name", flat=True))
    environments = list(environment_list(organization=org).values_list("name", flat=True))
    form = TimelineFilterForm(request.GET, projects=projects, environments=environments)
    filters = form.filters()
    if "since" in filters:
        filters["since"] = day_start(filters["since"])
    if "until" in filters:
        filters["until"] = day_end(filters["until"])
    page, per_page = paginate(request, release_timeline(organization=org, **filters))
    releases = list(page.object_list)
    chips = release_latest_deployments(organization=org, release_ids=[release.pk for release in releases])
    for release in releases:
        release.chips = chips.get(release.pk, [])
    context = page_context(
        request,
        form=form,
        filtered=bool(filters),
        page=page,
        per_page=per_page,
        releases=releases,
        page_query=query_without(request, "page"),
        nav="releases",
        base_url=request.build_absolute_uri("/"),
    )
    return render(request, "releases/timeline.html", context, status=400 if form.errors else 200)


def _environment_groups(org, release: Release) -> list[dict]:
    """The release's deployments grouped by environment (production first), newest first in each."""
    groups: dict[int, dict] = {}
    deployments = release.deployments_newest_first
    recoveries = deployment_recoveries(organization=org, deployments=deployments)
    for deployment in deployments:
        deployment.recovery = recoveries.get(deployment.pk)
        group = groups.setdefault(deployment.environment_id, {"environment": deployment.environment, "deployments": []})
        history = deployment.history
        for change, following in zip(history, [*history[1:], None], strict=True):
            # How long each status lasted: until the next change (the last one is still current).
            change.lasted = (following.at - change.at).total_seconds() if following else None
        group["deployments"].append(deployment)
    return sorted(groups.values(), key=lambda g: (not g["environment"].is_production, g["environment"].name))


@org_page
def release_detail(request: HttpRequest, key: str) -> HttpResponse:
    release = release_get(organization=request.org, key=key)
    if release is None:
        raise Http404("No such release")
    commits = [link.commit for link in release.commit_links]
    refs = release.ref_list
    context = page_context(
        request,
        release=release,
        commits=commits,
        environment_groups=_environment_groups(request.org, release),
        refs=refs,
        # Where its build and deploy workflows run (their runs link there): its one repository.
        run_repository=refs[0].repository if len(refs) == 1 else None,
        nav="releases",
    )
    return render(request, "releases/detail.html", context)
