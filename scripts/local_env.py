"""Write a checkout's development configuration, once: ``python3 scripts/local_env.py .env.local``.

``make run`` calls it. The file turns on DEBUG and holds a SECRET_KEY made for this checkout, so
``.venv/bin/python manage.py ...`` works without exporting anything (releasetracker/settings.py
reads it; a variable set in the environment wins). An existing file is left as it is.
"""

import os
import secrets
import sys
from pathlib import Path

TEMPLATE = """\
# Development settings for this checkout only, written by `make run` (ignored by git).
# releasetracker/settings.py reads these when the environment does not set them.
# Production never has this file: there SECRET_KEY must come from the environment.
DEBUG=1
SECRET_KEY={key}
"""


def main(path: Path) -> None:
    if path.exists():
        return
    # Created readable by its owner alone: it holds a secret.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(TEMPLATE.format(key=secrets.token_urlsafe(50)))
    print(f"wrote {path} (DEBUG=1 and a SECRET_KEY for this checkout)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".env.local"))
