#!/bin/sh
# Report a release (with the commits since the previous tag) or a deployment to Release Tracker.
#
# POSIX sh and curl; git, awk, od and tr come with every CI image. No jq, no Python.
#
#   scripts/release.sh release    [--version V] [--previous REF] [--project NAME]... [--repository OWNER/REPO]
#                                 [--tag-pattern GLOB] [--url URL] [--max-commits N] [--dry-run]
#   scripts/release.sh deployment --environment ENV [--version V] [--status STATUS] [--project NAME]
#                                 [--url URL] [--external-id ID] [--started-at ISO8601] [--dry-run]
#
# Environment:
#   RELEASE_TRACKER_URL      base URL of the tracker, e.g. https://releases.example.com (required)
#   RELEASE_TRACKER_TOKEN    an API token with the write scope (required unless --dry-run)
#   RELEASE_TRACKER_RETRIES  attempts on a 5xx, 429 or connection error (default 5)
#   RELEASE_TRACKER_BACKOFF  first wait between attempts in seconds, doubled each time, at most 30 (default 2)
#
# The version defaults to $RELEASE_VERSION, then the tag being built ($GITHUB_REF_NAME on a tag,
# $CI_COMMIT_TAG), then the tag on HEAD. The previous tag defaults to the nearest tag before HEAD.
# The deployment status accepts CI job statuses: success, failure/failed, cancelled/canceled;
# "skipped" reports nothing.
#
# Exit status: 0 recorded (201, or 303 when it already was), 1 refused by the server (4xx, its
# "error" printed), 2 usage or git problem, 3 gave up after the retries.

set -u

PROG="release-tracker"
TMP_FILES=""

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "$*"
    exit 2
}
cleanup() { [ -n "$TMP_FILES" ] && rm -f $TMP_FILES; }
trap cleanup EXIT
trap 'exit 130' INT TERM

tmp() {
    _f=$(mktemp "${TMPDIR:-/tmp}/release-tracker.XXXXXX") || die "cannot create a temporary file"
    TMP_FILES="$TMP_FILES $_f"
    printf '%s' "$_f"
}

# JSON --------------------------------------------------------------------------------------------

# The awk function shared by every escape: backslash, quote and control characters (bytes below
# 0x20) become JSON escapes; every other byte passes through, so UTF-8 text stays as it is.
AWK_ESCAPE='
function esc_init(   i, c) {
    for (i = 1; i < 32; i++) { c = sprintf("%c", i); ESC[c] = sprintf("\\u%04x", i) }
    ESC["\\"] = "\\\\"; ESC["\""] = "\\\""; ESC["\n"] = "\\n"; ESC["\r"] = "\\r"; ESC["\t"] = "\\t"
}
function esc(s,   out, c, i, n) {
    out = ""
    n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        out = out ((c in ESC) ? ESC[c] : c)
    }
    return out
}
'

# json_str VALUE: VALUE as a JSON string, quotes included.
json_str() {
    printf '%s' "$1" | LC_ALL=C awk "$AWK_ESCAPE"'
        BEGIN { esc_init() }
        { s = (NR > 1 ? s "\n" : "") $0 }
        END { printf "\"%s\"", esc(s) }'
}

# commits_json RANGE REPOSITORY MAX: the commits of RANGE as a JSON array of objects.
commits_json() {
    # %x1e starts a commit, %x1f separates fields: neither appears in names, emails or dates.
    git log --no-color --max-count="$3" --format='%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%B' "$1" -- |
        LC_ALL=C awk -v repo="$2" "$AWK_ESCAPE"'
        BEGIN { esc_init(); RS = "\036"; FS = "\037"; printf "[" }
        NR > 1 {
            msg = $5
            for (i = 6; i <= NF; i++) msg = msg "\037" $i
            sub(/[\n\r\t ]+$/, "", msg)
            printf "%s{\"sha\":\"%s\",\"author_name\":\"%s\",\"author_email\":\"%s\",\"timestamp\":\"%s\",\"message\":\"%s\"%s}",
                (count++ ? "," : ""), esc($1), esc($2), esc($3), esc($4), esc(msg),
                (repo != "" ? ",\"repository\":\"" esc(repo) "\"" : "")
        }
        END { printf "]" }'
}

# json_error FILE: the "error" string of a JSON error body (empty when there is none).
json_error() {
    LC_ALL=C awk '
        { s = (NR > 1 ? s "\n" : "") $0 }
        END {
            i = index(s, "\"error\"")
            if (!i) exit
            s = substr(s, i + 7)
            if (!sub(/^[ \t\r\n]*:[ \t\r\n]*"/, "", s)) exit
            out = ""
            while (length(s) > 0) {
                c = substr(s, 1, 1)
                if (c == "\"") break
                if (c == "\\") {
                    n = substr(s, 2, 1)
                    if (n == "n") out = out "\n"
                    else if (n == "t") out = out "\t"
                    else if (n == "u") { out = out "?"; s = substr(s, 5) }
                    else out = out n
                    s = substr(s, 3)
                    continue
                }
                out = out c
                s = substr(s, 2)
            }
            print out
        }' "$1"
}

# HTTP --------------------------------------------------------------------------------------------

# post PATH PAYLOAD_FILE WHAT: POST with retries; prints the outcome and exits non-zero on failure.
post() {
    _url="${RELEASE_TRACKER_URL%/}$1"
    _retries=${RELEASE_TRACKER_RETRIES:-5}
    _wait=${RELEASE_TRACKER_BACKOFF:-2}
    case $_retries in '' | *[!0-9]*) die "RELEASE_TRACKER_RETRIES must be a whole number" ;; esac
    case $_wait in '' | *[!0-9]*) die "RELEASE_TRACKER_BACKOFF must be a whole number of seconds" ;; esac
    [ "$_retries" -ge 1 ] || _retries=1
    _headers=$(tmp)
    _body=$(tmp)
    _err=$(tmp)
    # One key for every attempt: a retry of a request that did land is answered with its first response.
    _key=$(od -An -N16 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')
    [ -n "$_key" ] || _key="$$-$(date +%s)"
    # The token goes in a header file, not on curl's command line where `ps` would show it.
    (
        umask 077
        printf 'Authorization: Bearer %s\nContent-Type: application/json\nAccept: application/json\n' \
            "$RELEASE_TRACKER_TOKEN" >"$_headers"
        printf 'Idempotency-Key: %s\nUser-Agent: release-tracker-sh/1\n' "$_key" >>"$_headers"
    )
    _attempt=1
    while :; do
        _status=$(curl -sS -o "$_body" -w '%{http_code}' --connect-timeout 10 --max-time 120 \
            -X POST -H @"$_headers" --data-binary @"$2" "$_url" 2>"$_err") || :
        case $_status in
        2?? | 303)
            [ "$_status" = 303 ] && say "$3 was already recorded (HTTP 303): nothing changed" ||
                say "$3 recorded (HTTP $_status)"
            return 0
            ;;
        429 | 5?? | 000 | '')
            if [ "$_status" = 000 ] || [ -z "$_status" ]; then
                _why="cannot reach $_url: $(tr '\n' ' ' <"$_err")"
            else
                _why="HTTP $_status"
            fi
            ;;
        *)
            _message=$(json_error "$_body")
            [ -n "$_message" ] || _message=$(dd if="$_body" bs=500 count=1 2>/dev/null)
            say "$3 refused (HTTP $_status): $_message"
            exit 1
            ;;
        esac
        if [ "$_attempt" -ge "$_retries" ]; then
            say "$3 not recorded: gave up after $_attempt attempt(s); last error: $_why"
            exit 3
        fi
        say "attempt $_attempt failed ($_why); retrying in ${_wait}s"
        sleep "$_wait"
        _attempt=$((_attempt + 1))
        _wait=$((_wait * 2))
        [ "$_wait" -le 30 ] || _wait=30
    done
}

# Commands ----------------------------------------------------------------------------------------

in_git() { git rev-parse --git-dir >/dev/null 2>&1; }

default_version() {
    if [ -n "${RELEASE_VERSION:-}" ]; then
        printf '%s' "$RELEASE_VERSION"
    elif [ "${GITHUB_REF_TYPE:-}" = tag ] && [ -n "${GITHUB_REF_NAME:-}" ]; then
        printf '%s' "$GITHUB_REF_NAME"
    elif [ -n "${CI_COMMIT_TAG:-}" ]; then
        printf '%s' "$CI_COMMIT_TAG"
    elif in_git; then
        git describe --tags --exact-match HEAD 2>/dev/null
    fi
}

default_repository() {
    if [ -n "${GITHUB_REPOSITORY:-}" ]; then
        printf '%s' "$GITHUB_REPOSITORY"
    elif [ -n "${CI_PROJECT_PATH:-}" ]; then
        printf '%s' "$CI_PROJECT_PATH"
    fi
}

default_run_url() {
    if [ -n "${GITHUB_RUN_ID:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
        printf '%s/%s/actions/runs/%s' "${GITHUB_SERVER_URL:-https://github.com}" "$GITHUB_REPOSITORY" "$GITHUB_RUN_ID"
    elif [ -n "${CI_JOB_URL:-}" ]; then
        printf '%s' "$CI_JOB_URL"
    fi
}

check_env() {
    [ "$dry_run" = 1 ] && return 0
    [ -n "${RELEASE_TRACKER_URL:-}" ] || die "RELEASE_TRACKER_URL is not set (the tracker's base URL)"
    [ -n "${RELEASE_TRACKER_TOKEN:-}" ] || die "RELEASE_TRACKER_TOKEN is not set (an API token with the write scope)"
    command -v curl >/dev/null 2>&1 || die "curl is required"
}

send() { # PATH PAYLOAD WHAT
    if [ "$dry_run" = 1 ]; then
        printf '%s\n' "$2"
        return 0
    fi
    _payload=$(tmp)
    printf '%s' "$2" >"$_payload"
    post "$1" "$_payload" "$3"
}

cmd_release() {
    version="" previous="" repository="" url="" projects="" pattern="${RELEASE_TRACKER_TAG_PATTERN:-}" max=10000
    while [ $# -gt 0 ]; do
        case $1 in
        --version) version=${2?--version needs a value}; shift 2 ;;
        --previous) previous=${2?--previous needs a ref}; shift 2 ;;
        --project) projects="${projects:+$projects,}$(json_str "${2?--project needs a name}")"; shift 2 ;;
        --repository) repository=${2?--repository needs OWNER/REPO}; shift 2 ;;
        --tag-pattern) pattern=${2?--tag-pattern needs a glob}; shift 2 ;;
        --url) url=${2?--url needs a value}; shift 2 ;;
        --max-commits) max=${2?--max-commits needs a number}; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        *) die "release: unknown option '$1' (see the top of $0)" ;;
        esac
    done
    check_env
    in_git || die "not in a git repository: run from the checkout"
    case $max in '' | *[!0-9]*) die "--max-commits must be a whole number" ;; esac
    [ -n "$version" ] || version=$(default_version)
    [ -n "$version" ] || die "no version: pass --version, set RELEASE_VERSION or run on a tag"
    [ -n "$repository" ] || repository=$(default_repository)
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
        say "warning: shallow clone, the commit list may be short (actions/checkout: fetch-depth: 0; GitLab: GIT_DEPTH: 0)"
    fi
    head=$(git rev-parse --verify HEAD^{commit} 2>/dev/null) || die "HEAD does not name a commit"
    if [ -z "$previous" ]; then
        set -- --tags --abbrev=0
        [ -n "$pattern" ] && set -- "$@" --match "$pattern"
        # HEAD's own tag is the release being reported: start looking from its parent then.
        if git describe "$@" --exact-match HEAD >/dev/null 2>&1; then
            previous=$(git describe "$@" HEAD^ 2>/dev/null) || previous=""
        else
            previous=$(git describe "$@" HEAD 2>/dev/null) || previous=""
        fi
    fi
    if [ -n "$previous" ]; then
        previous_sha=$(git rev-parse --verify "$previous^{commit}" 2>/dev/null) ||
            die "--previous '$previous' does not name a commit"
        range="$previous_sha..$head"
        since="since $previous"
    else
        previous_sha=""
        range="$head"
        since="(no previous tag: the whole history, at most $max)"
    fi
    commits=$(commits_json "$range" "$repository" "$max") || die "git log $range failed"
    count=$(git rev-list --count --max-count="$max" "$range")
    payload="{\"version\":$(json_str "$version"),\"projects\":[$projects],\"commits\":$commits"
    [ -n "$url" ] && payload="$payload,\"url\":$(json_str "$url")"
    if [ -n "$repository" ]; then
        payload="$payload,\"refs\":[{\"repository\":$(json_str "$repository"),\"commit\":\"$head\""
        [ -n "$previous_sha" ] && payload="$payload,\"previous_commit\":\"$previous_sha\""
        payload="$payload}]"
    fi
    payload="$payload}"
    send /api/v1/releases/ "$payload" "release $version ($count commits $since)"
}

cmd_deployment() {
    version="" environment="" status="success" url="" external_id="" started_at="" project="" commit=""
    while [ $# -gt 0 ]; do
        case $1 in
        --environment) environment=${2?--environment needs a name}; shift 2 ;;
        --version) version=${2?--version needs a value}; shift 2 ;;
        --status) status=${2?--status needs a value}; shift 2 ;;
        --project) project=${2?--project needs a name}; shift 2 ;;
        --url) url=${2?--url needs a value}; shift 2 ;;
        --external-id) external_id=${2?--external-id needs a value}; shift 2 ;;
        --started-at) started_at=${2?--started-at needs an ISO 8601 time}; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        *) die "deployment: unknown option '$1' (see the top of $0)" ;;
        esac
    done
    [ -n "$environment" ] || die "deployment: --environment is required"
    case $status in
    success | succeeded | passed) status=success ;;
    failure | failed | error) status=failure ;;
    cancelled | canceled) status=canceled ;;
    skipped)
        say "deployment to $environment skipped: nothing reported"
        return 0
        ;;
    esac
    check_env
    [ -n "$version" ] || version=$(default_version)
    in_git && commit=$(git rev-parse --verify HEAD 2>/dev/null)
    [ -n "$version" ] || [ -n "$commit" ] || die "deployment: no version and no git checkout: pass --version"
    [ -n "$url" ] || url=$(default_run_url)
    if [ -z "$external_id" ]; then
        # One deployment per CI run attempt: a retried request is the same deployment, a re-run a new one.
        if [ -n "${GITHUB_RUN_ID:-}" ]; then
            external_id="github-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}-${GITHUB_JOB:-job}"
        elif [ -n "${CI_JOB_ID:-}" ]; then
            external_id="gitlab-${CI_JOB_ID}"
        fi
    fi
    payload="{\"environment\":$(json_str "$environment"),\"status\":$(json_str "$status")"
    [ -n "$version" ] && payload="$payload,\"release\":$(json_str "$version")"
    [ -n "$commit" ] && payload="$payload,\"commit_sha\":\"$commit\""
    [ -n "$project" ] && payload="$payload,\"project\":$(json_str "$project")"
    [ -n "$url" ] && payload="$payload,\"url\":$(json_str "$url")"
    [ -n "$external_id" ] && payload="$payload,\"external_id\":$(json_str "$external_id")"
    [ -n "$started_at" ] && payload="$payload,\"started_at\":$(json_str "$started_at")"
    actor=${GITHUB_ACTOR:-${GITLAB_USER_LOGIN:-}}
    [ -n "$actor" ] && payload="$payload,\"triggered_by\":$(json_str "$actor")"
    payload="$payload}"
    send /api/v1/deployments/ "$payload" "deployment of ${version:-$commit} to $environment ($status)"
}

dry_run=0
case ${1:-} in
release) shift; cmd_release "$@" ;;
deployment | deploy) shift; cmd_deployment "$@" ;;
-h | --help | help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "usage: $0 release|deployment [options] (see --help)" ;;
esac
