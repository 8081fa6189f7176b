#!/bin/sh
# What EchoesHQ/deployments-action (its entrypoint) does over HTTP, re-written for a POSIX shell
# so the tests can run it against a live server: the same options, the same curl flags
# (--silent --show-error --fail-with-body --location), the same jq reads, and the same decision:
# whatever comes back, success or error, `.status` is read with jq and compared with
# `-ge 400`, which alone makes the step fail. Only the host changes (ECHOES_URL). The action's
# search for commits in git tags is left out; commits and deliverables are given (-c, -d), or
# fall back to GITHUB_SHA and the repository's name as in the action.
#
#   sh echoes_action.sh -t post-deploy -v VERSION -d DELIVERABLES -c COMMITS [-u URL]
#   sh echoes_action.sh -t post-status -i DEPLOYMENT_ID -s STATUS
#
# Environment: ECHOES_URL, ECHOES_API_KEY, GITHUB_OUTPUT (the file the deployment id goes to).

# The action trims every input with xargs: it drops quotes (the id it wrote with `jq .id` comes
# back unquoted) and joins the lines of a list input into one line, separated by spaces.
trim() {
    echo "$1" | xargs
}

action_type="post-deploy"
version=""
deliverables=""
commits=""
url=""
status=""
deployment_id=""
while getopts ":t:v:d:c:u:s:i:" opt; do
    case $opt in
        t) action_type=$(trim "$OPTARG") ;;
        v) version=$(trim "$OPTARG") ;;
        d) deliverables=$(trim "$OPTARG") ;;
        c) commits=$(trim "$OPTARG") ;;
        u) url=$(trim "$OPTARG") ;;
        s) status=$(trim "$OPTARG") ;;
        i) deployment_id=$(trim "$OPTARG") ;;
        *) echo "Invalid option -$OPTARG" >&2; exit 1 ;;
    esac
done

if [ -z "$ECHOES_API_KEY" ]; then
    echo "No ECHOES_API_KEY provided!"
    exit 1
fi
endpoint="$ECHOES_URL/v1/signals/deployments"

# The action's only test of an answer.
refused() {
    [ "$(echo "$1" | jq .status)" -ge 400 ]
}

if [ "$action_type" = "post-status" ]; then
    if [ -z "$status" ] || [ -z "$deployment_id" ]; then
        echo "A status and a deployment ID are required."
        exit 1
    fi
    response=$(curl --silent --show-error --fail-with-body --location "$endpoint/$deployment_id/status" \
        --header 'Content-Type: application/json' \
        --header "Authorization: Bearer $ECHOES_API_KEY" \
        --data-raw "{\"status\": \"$status\"}")
    if [ -n "$response" ]; then
        echo "$response"
        if refused "$response"; then
            exit 1
        fi
    fi
    exit 0
fi

if [ -z "$deliverables" ]; then
    deliverables="${GITHUB_REPOSITORY#*/}"
fi
if [ -z "$commits" ]; then
    commits="$GITHUB_SHA"
fi

# Each input is one array item, as the action's mapfile over the trimmed input makes it.
deliverables_json=$(jq --compact-output --null-input '$ARGS.positional' --args "$deliverables")
commits_json=$(jq --compact-output --null-input '$ARGS.positional' --args "$commits")

response=$(curl --silent --show-error --fail-with-body --location "$endpoint" \
    --header 'Accept: application/json' \
    --header 'Content-Type: application/json' \
    --header "Authorization: Bearer $ECHOES_API_KEY" \
    --data-raw "{
        \"version\": \"$version\",
        \"commits\": $commits_json,
        \"deliverables\": $deliverables_json,
        \"url\": \"$url\"
    }")

echo "$response"

if [ -n "$response" ]; then
    if refused "$response"; then
        exit 1
    fi
    deployment_id=$(echo "$response" | jq .id)
    echo "deployment_id=$deployment_id" >> "$GITHUB_OUTPUT"
fi
