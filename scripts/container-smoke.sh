#!/usr/bin/env bash
# Build the image (Containerfile) with podman, run it against this machine's PostgreSQL, wait for
# /readyz, post a deployment with a token made inside the container, read it back, stop it.
#
#   bash scripts/container-smoke.sh            # what .ci/run runs
#
# BASE (default localhost/debian-base:bookworm) is the image to build on. When it is that default
# and not yet in podman's storage, it is made from Debian's packages with debootstrap, from the
# mirror this machine's apt uses, since no container registry may be reachable. Exits 0 with
# "SKIP: <reason>" only where podman cannot run a container at all; any other failure is exit 1.
# Every wait is bounded; the container, its database and temporary files go whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-localhost/debian-base:bookworm}
SUITE=${SUITE:-bookworm}
IMAGE=${IMAGE:-localhost/release-tracker:smoke}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
STARTED=$(date +%s)

say() { echo "[container-smoke +$(($(date +%s) - STARTED))s] $*"; }
skip() { echo "SKIP: container smoke test: $*"; exit 0; }

command -v podman >/dev/null || skip "podman is not installed (apt-get install podman buildah runc)"

WORK=$(mktemp -d /tmp/rt-container-smoke.XXXXXX)
CONTAINER="rt-smoke-$$"
DB="rt_smoke_$(date +%s)_$$"
DB_MADE=0
cleanup() {
    status=$?
    if podman container exists "$CONTAINER" 2>/dev/null; then
        if [ "$status" -ne 0 ]; then
            cat "$WORK/podman.err" 2>/dev/null || true
            echo "--- the container's log:"
            timeout 30 podman logs --tail 60 "$CONTAINER" 2>&1 || true
        fi
        timeout 60 podman rm --force --time 10 "$CONTAINER" >/dev/null 2>&1 || true
    fi
    if [ "$DB_MADE" = 1 ]; then
        psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -q -c "DROP DATABASE IF EXISTS $DB" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# crun fails on hosts with hybrid cgroups, and the default open-file limit cannot always be
# raised: runc, and limits every such host can give.
cat > "$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$WORK/containers.conf"

# The mirror this machine's apt uses for SUITE (deb822 .sources files or one-line sources.list).
apt_mirror() {
    python3 - "$SUITE" <<'PY'
import glob, re, sys
suite = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
        if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split():
            print(fields["URIs"].split()[0]); sys.exit(0)
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            print(words[1]); sys.exit(0)
sys.exit(f"no apt source for {suite} in /etc/apt")
PY
}

if ! podman image exists "$BASE"; then
    [ "$BASE" = "localhost/debian-base:$SUITE" ] || { echo "base image $BASE is not in podman's storage"; exit 1; }
    command -v debootstrap >/dev/null || skip "no base image and no debootstrap to make one (apt-get install debootstrap)"
    MIRROR=$(apt_mirror)
    say "making $BASE with debootstrap ($SUITE, minbase, from this machine's apt mirror)"
    timeout 900 debootstrap --variant=minbase "$SUITE" "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    tar -C "$WORK/rootfs" -c . | timeout 300 podman import - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
fi

# Can this host run a container at all? If not, that is the host's limit, not the image's.
if ! out=$(timeout 120 podman run --rm --network host "$BASE" true 2>&1); then
    skip "podman cannot run a container here: $(echo "$out" | tail -1)"
fi

say "building $IMAGE on $BASE"
secret=()
[ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca-certificates,src=$CA_BUNDLE")
timeout 1200 podman build --format docker --network host --build-arg "BASE=$BASE" "${secret[@]}" \
    -t "$IMAGE" -f Containerfile . > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }

# The build machine's CA bundle was a secret: it must not be in the image.
if timeout 60 podman run --rm --network host --no-healthcheck "$IMAGE" sh -c 'ls -A /run/secrets 2>/dev/null | grep -q .'; then
    echo "the image carries /run/secrets"; exit 1
fi
[ "$(timeout 60 podman run --rm --network host --no-healthcheck "$IMAGE" id -u)" != 0 ] || { echo "the image runs as root"; exit 1; }

pg_isready -h "$PGHOST" -p "$PGPORT" -q || { echo "PostgreSQL is not answering on $PGHOST:$PGPORT"; exit 1; }
psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -q -c "CREATE DATABASE $DB"
DB_MADE=1
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
METRICS_TOKEN="smoke-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
say "starting it on 127.0.0.1:$PORT (database $DB)"
# As compose.yaml runs it: migrate, then serve.
# Without systemd, podman complains on stderr that it cannot time the HEALTHCHECK: kept apart,
# shown on failure. The check itself is run once below.
timeout 120 podman run --detach --name "$CONTAINER" --network host \
    -e PORT="$PORT" \
    -e GUNICORN_BIND="127.0.0.1:$PORT" \
    -e GUNICORN_WORKERS=2 \
    -e SECRET_KEY="smoke-$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    -e ALLOWED_HOSTS=127.0.0.1,localhost \
    -e DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" \
    -e SECURE_SSL_REDIRECT=0 \
    -e METRICS_TOKEN="$METRICS_TOKEN" \
    "$IMAGE" sh -c 'python manage.py migrate --noinput && exec gunicorn -c gunicorn.conf.py releasetracker.wsgi' \
    >/dev/null 2>>"$WORK/podman.err"

URL="http://127.0.0.1:$PORT"
ready=0
for _ in $(seq 1 120); do
    if curl -fsS --max-time 5 "$URL/readyz" >/dev/null 2>&1; then ready=1; break; fi
    [ "$(podman inspect --format '{{.State.Running}}' "$CONTAINER")" = true ] || break
    sleep 1
done
[ "$ready" = 1 ] || { echo "/readyz never answered 200"; curl -sS --max-time 5 "$URL/readyz" || true; exit 1; }
say "/readyz: $(curl -fsS --max-time 5 "$URL/readyz")"
timeout 60 podman healthcheck run "$CONTAINER" 2>>"$WORK/podman.err" || { echo "the image's HEALTHCHECK failed"; exit 1; }

timeout 120 podman exec "$CONTAINER" python manage.py create_org smoke --name "Smoke Test" >/dev/null
TOKEN=$(timeout 120 podman exec "$CONTAINER" python manage.py create_token smoke --name smoke --scope write | tail -n 1)
SHA=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
status=$(curl -sS --max-time 15 -o "$WORK/post.json" -w '%{http_code}' -X POST "$URL/api/v1/deployments/" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"environment\": \"production\", \"commit_sha\": \"$SHA\", \"status\": \"success\"}")
[ "$status" = 201 ] || { echo "POST /api/v1/deployments/ answered $status: $(cat "$WORK/post.json")"; exit 1; }
curl -fsS --max-time 15 -H "Authorization: Bearer $TOKEN" "$URL/api/v1/deployments/?environment=production" \
    > "$WORK/list.json"
grep -q "$SHA" "$WORK/list.json" || { echo "the deployment is not in the list: $(head -c 500 "$WORK/list.json")"; exit 1; }
say "deployment $SHA recorded and read back"

curl -fsS --max-time 15 -H "Authorization: Bearer $METRICS_TOKEN" "$URL/metrics" > "$WORK/metrics.txt"
grep -q '^releasetracker_http_requests_total{method="POST",route="api/v1/deployments/",status="201"} 1.0$' \
    "$WORK/metrics.txt" || { echo "/metrics did not count the deployment"; exit 1; }
[ "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$URL/metrics")" = 401 ] \
    || { echo "/metrics answered without the token"; exit 1; }

timeout 60 podman stop --time 20 "$CONTAINER" >/dev/null 2>>"$WORK/podman.err"
say "passed: the container stopped cleanly"
