from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from releasetracker.errors import DomainError
from releasetracker.models import Organization
from releasetracker.services import token_issue


class Command(BaseCommand):
    help = "Create an API token for an organization. The token is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scope",
            action="append",
            choices=["read", "write"],
            help="read or write; repeat for both (default: write, which includes read)",
        )
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, org_slug, name, scope, expires_in_days, **options):
        org = Organization.objects.filter(slug=org_slug).first()
        if org is None:
            raise CommandError(f"no organization with slug '{org_slug}'")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            issued = token_issue(organization=org, name=name, scopes=scope or ["write"], expires_at=expires_at)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        token = issued.token
        self.stdout.write(
            f"Created token '{token.name}' for {org.slug} with scopes {', '.join(token.scopes)} "
            f"(prefix {token.prefix}). It is shown only now; store it in your CI secrets:"
        )
        self.stdout.write(issued.clear)
