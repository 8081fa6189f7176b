"""Reads of organizations, memberships and API tokens."""

from django.db.models import QuerySet

from releasetracker.models import ApiToken, Membership, Organization


def membership_list(*, user) -> QuerySet[Membership]:
    """The user's memberships with their organizations, by organization name."""
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def membership_get(*, user, organization_slug: str) -> Membership | None:
    """The user's membership of the organization ``organization_slug``; None whether it exists or not."""
    return (
        Membership.objects.select_related("organization")
        .filter(user=user, organization__slug=organization_slug)
        .only("role", "organization")
        .first()
    )


def token_list(*, organization: Organization) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(organization=organization).select_related("created_by").order_by("-created_at")


def token_get(*, organization: Organization, public_id) -> ApiToken | None:
    return token_list(organization=organization).filter(public_id=public_id).first()


def organization_get(*, slug: str) -> Organization | None:
    """The organization a URL or a command names by its slug (slugs are stored in lower case)."""
    return Organization.objects.filter(slug=slug.strip().lower()).first()
