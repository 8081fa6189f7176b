from django.core.management.base import BaseCommand, CommandError

from releasetracker.errors import DomainError
from releasetracker.services import organization_create


class Command(BaseCommand):
    help = "Create an organization."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="display name (default: the slug)")

    def handle(self, *args, slug, name, **options):
        try:
            org = organization_create(slug=slug, name=name or slug)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created organization {org.slug} ({org.name}).")
