"""The one rule for shas, applied to what was stored before it: a commit stored by an
abbreviated sha that exactly one longer stored sha extends is merged into that commit (its
release links, and its first sighting when earlier), and deployments without a release that name
an abbreviation of exactly one stored commit name its full sha."""

from django.db import migrations
from django.db.models.functions import Length


def _extending(Commit, organization_id: int, sha: str):
    # The range lets the (organization, sha) index find them whatever the collation.
    return Commit.objects.filter(
        organization_id=organization_id, sha__gte=sha, sha__lt=f"{sha}g", sha__startswith=sha
    ).exclude(sha=sha)


def merge_abbreviated_commits(apps, schema_editor):
    Commit = apps.get_model("releases", "Commit")
    ReleaseCommit = apps.get_model("releases", "ReleaseCommit")
    Deployment = apps.get_model("deployments", "Deployment")
    short = (
        Commit.objects.annotate(length=Length("sha"))
        .filter(length__lt=40)
        .order_by("-length", "id")  # the longest first, so a chain of abbreviations folds up
        .values_list("pk", "organization_id", "sha", "created_at")
    )
    for pk, organization_id, sha, created_at in list(short):
        longer = list(_extending(Commit, organization_id, sha).values_list("pk", "sha", "created_at")[:2])
        if len(longer) != 1:
            continue
        full_pk, full_sha, full_created_at = longer[0]
        linked = ReleaseCommit.objects.filter(commit_id=full_pk).values_list("release_id", flat=True)
        ReleaseCommit.objects.filter(commit_id=pk, release_id__in=list(linked)).delete()
        ReleaseCommit.objects.filter(commit_id=pk).update(commit_id=full_pk)
        if created_at < full_created_at:
            Commit.objects.filter(pk=full_pk).update(created_at=created_at)
        Deployment.objects.filter(organization_id=organization_id, release__isnull=True, commit_sha=sha).update(
            commit_sha=full_sha
        )
        Commit.objects.filter(pk=pk).delete()
    named = (
        Deployment.objects.annotate(length=Length("commit_sha"))
        .filter(release__isnull=True, length__gt=0, length__lt=40)
        .values_list("organization_id", "commit_sha")
        .distinct()
    )
    for organization_id, sha in list(named):
        if Commit.objects.filter(organization_id=organization_id, sha=sha).exists():
            continue
        longer = list(_extending(Commit, organization_id, sha).values_list("sha", flat=True)[:2])
        if len(longer) == 1:
            Deployment.objects.filter(organization_id=organization_id, release__isnull=True, commit_sha=sha).update(
                commit_sha=longer[0]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0007_deployment_rollback_detected"),
        ("releases", "0004_release_archived_at"),
    ]

    operations = [migrations.RunPython(merge_abbreviated_commits, migrations.RunPython.noop)]
