"""Release pages: the timeline and a release's own page. Thin: a filter form, a selector, a template."""

from collections import defaultdict

from django import forms
from django.db.models import Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.models import Deployment, DeploymentStatus
from deployments.selectors import environment_list, release_get
from releases.models import Release
from releases.selectors import project_list, release_list
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


def latest_deployments(release_ids: list[int]) -> dict[int, list[Deployment]]:
    """The latest deployment of each release to each environment, in one query whatever the count.

    A window function ranks each (release, environment) pair's deployments newest first, and
    only the first of each is read, so a release deployed 500 times costs one row per environment.
    """
    if not release_ids:
        return {}
    ranked = (
        Deployment.objects.filter(release_id__in=release_ids)
        .select_related("environment")
        .only("release_id", "status", "occurred_at", "is_rollback", "is_hotfix", "environment__name")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("release_id"), F("environment_id")],
                order_by=[F("occurred_at").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .order_by("-environment__is_production", "environment__name")
    )
    chips: dict[int, list[Deployment]] = defaultdict(list)
    for deployment in ranked:
        chips[deployment.release_id].append(deployment)
    return chips


def _latest_status_is(status: str, environment: str | None) -> Exists:
    """Releases whose latest deployment (to ``environment``, or to any environment) has ``status``."""
    later = Deployment.objects.filter(
        release_id=OuterRef("release_id"),
        environment_id=OuterRef("environment_id"),
    ).filter(Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), id__gt=OuterRef("id")))
    candidates = Deployment.objects.filter(release_id=OuterRef("pk"), status=status)
    if environment:
        candidates = candidates.filter(environment__name=environment)
    return Exists(candidates.filter(~Exists(later)))


def filter_releases(queryset, filters: dict):
    if "q" in filters:
        queryset = queryset.filter(Q(version__icontains=filters["q"]) | Q(name__icontains=filters["q"]))
    if "project" in filters:
        queryset = queryset.filter(projects__name=filters["project"])
    if "environment" in filters and "status" not in filters:
        queryset = queryset.filter(
            Exists(Deployment.objects.filter(release_id=OuterRef("pk"), environment__name=filters["environment"]))
        )
    if "status" in filters:
        queryset = queryset.filter(_latest_status_is(filters["status"], filters.get("environment")))
    if "since" in filters:
        queryset = queryset.filter(created_at__gte=day_start(filters["since"]))
    if "until" in filters:
        queryset = queryset.filter(created_at__lt=day_end(filters["until"]))
    return queryset


@org_page
def timeline(request: HttpRequest) -> HttpResponse:
    org = request.org
    projects = list(project_list(organization=org).values_list("name", flat=True))
    environments = list(environment_list(organization=org).values_list("name", flat=True))
    form = TimelineFilterForm(request.GET, projects=projects, environments=environments)
    filters = form.filters()
    page, per_page = paginate(request, filter_releases(release_list(organization=org), filters))
    releases = list(page.object_list)
    chips = latest_deployments([release.pk for release in releases])
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


def _environment_groups(release: Release) -> list[dict]:
    """The release's deployments grouped by environment (production first), newest first in each."""
    groups: dict[int, dict] = {}
    for deployment in release.deployments.all():  # prefetched, newest first
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
    commits = [link.commit for link in release.release_commits.all()]
    context = page_context(
        request,
        release=release,
        commits=commits,
        environment_groups=_environment_groups(release),
        refs=list(release.refs.all()),
        nav="releases",
    )
    return render(request, "releases/detail.html", context)
