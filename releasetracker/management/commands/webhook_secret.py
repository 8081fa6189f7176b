from django.core.management.base import BaseCommand, CommandError

from releasetracker.models import Organization
from releasetracker.services import webhook_secret_ensure


class Command(BaseCommand):
    help = (
        "Print the organization's GitHub webhook secret, creating it when it has none. "
        "Paste it into the GitHub webhook pointed at /hooks/github/<ORG_SLUG>/."
    )

    def add_arguments(self, parser):
        parser.add_argument("org_slug", metavar="ORG_SLUG")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="replace the secret with a new one (update the GitHub webhook right after)",
        )

    def handle(self, *args, org_slug: str, rotate: bool, **options):
        org = Organization.objects.filter(slug=org_slug.strip().lower()).first()
        if org is None:
            raise CommandError(f"no organization with slug '{org_slug}'")
        secret, created = webhook_secret_ensure(organization=org, rotate=rotate)
        if created:
            self.stderr.write(f"Created a new GitHub webhook secret for {org.slug}.")
        # Only the secret on stdout, so `$(manage.py webhook_secret acme)` captures it.
        self.stdout.write(secret)
