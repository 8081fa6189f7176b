import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from webhooks.services import deliver_due


class Command(BaseCommand):
    help = "Send queued outgoing webhooks. Runs until SIGTERM/SIGINT; --once sends what is due and exits (cron)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="send every due delivery once, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls when idle")
        parser.add_argument("--batch", type=int, default=20, help="deliveries locked and sent per step")

    def handle(self, *args, once: bool, interval: float, batch: int, **options):
        stop = threading.Event()

        def request_stop(signum, frame):
            # Finish the delivery in flight, then leave: nothing is sent twice or half-recorded.
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        sent = 0
        self.stdout.write("deliver_webhooks: started" + (" (once)" if once else ""))
        self.stdout.flush()
        while not stop.is_set():
            if not connection.in_atomic_block:
                # A long-running loop must drop broken or expired connections itself (no request
                # cycle does it here); inside a caller's transaction the connection is kept.
                close_old_connections()
            attempted = deliver_due(limit=batch)
            sent += attempted
            if attempted:
                continue
            if once:
                break
            stop.wait(interval)
        self.stdout.write(f"deliver_webhooks: stopped after {sent} attempt(s)")
