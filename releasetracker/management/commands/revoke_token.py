from django.core.management.base import BaseCommand, CommandError

from releasetracker.errors import DomainError
from releasetracker.services import token_revoke_by_prefix


class Command(BaseCommand):
    help = "Revoke an API token by its prefix (the rt_xxxxxxxx shown in lists)."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        try:
            token = token_revoke_by_prefix(prefix=prefix)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Revoked token '{token.name}' ({token.prefix}) of {token.organization.slug}.")
