#!/bin/bash
# HA Ingestor first-start initialisation for the official influxdb:2.7 image.
#
# The image runs /docker-entrypoint-initdb.d/*.sh once, right after `influx setup` created the
# admin user, the org and the events bucket (DOCKER_INFLUXDB_INIT_*), with the `influx` CLI
# already configured with the admin token. This script adds:
#   - the weather/sports ("context") bucket and the downsampled bucket, with retention;
#   - DBRP mappings, so InfluxQL on /query (the dashboard, Grafana) reaches those buckets;
#   - a task writing hourly means of numeric states into the downsampled bucket;
#   - a write token for Home Assistant and a read-only token for the dashboard, saved as files
#     (never printed): InfluxDB generates token values, they cannot be chosen in advance.
# Every step checks first, so a re-run by hand completes instead of duplicating.
set -euo pipefail

: "${DOCKER_INFLUXDB_INIT_ORG:?}"
: "${DOCKER_INFLUXDB_INIT_BUCKET:?}"
org="$DOCKER_INFLUXDB_INIT_ORG"
events_bucket="$DOCKER_INFLUXDB_INIT_BUCKET"
database="${HA_INGESTOR_DATABASE:-home_assistant}"
context_bucket="${HA_INGESTOR_CONTEXT_BUCKET:-home_assistant_context}"
context_retention="${HA_INGESTOR_CONTEXT_RETENTION:-365d}"
context_database="${HA_INGESTOR_CONTEXT_DATABASE:-$context_bucket}"
downsampled_bucket="${HA_INGESTOR_DOWNSAMPLED_BUCKET:-home_assistant_1h}"
downsampled_retention="${HA_INGESTOR_DOWNSAMPLED_RETENTION:-1825d}"
downsampled_database="${HA_INGESTOR_DOWNSAMPLED_DATABASE:-$downsampled_bucket}"
token_dir="${HA_INGESTOR_TOKEN_DIR:-/etc/influxdb2/ha-ingestor}"
ha_token="$token_dir/homeassistant.token"
dashboard_token="$token_dir/dashboard/dashboard.token"
task_name="ha_ingestor_downsample_1h"
cli_configs="${INFLUX_CONFIGS_PATH:-/etc/influxdb2/influx-configs}"
flux=""

# To stderr: several helpers return values on stdout through $(...).
log() { echo "ha-ingestor init: $*" >&2; }

# When a first start fails, the image's entrypoint deletes the database (bolt and engine files)
# so that the next start sets it up again; it keeps the CLI profile `influx setup` wrote, and the
# next `influx setup` refuses that name ("already exists") at every restart. So the profile goes
# too, and the token files made here (for the deleted database). Only during the first start:
# the entrypoint points the CLI at its temporary setup server (influxdata-docker,
# influxdb/2.7/entrypoint.sh, init_influxd); a failed run by hand leaves everything as it was.
first_start=false
if [ -n "${INFLUXD_INIT_PORT:-}" ] && [ "${INFLUX_HOST:-}" = "http://localhost:$INFLUXD_INIT_PORT" ]; then
    first_start=true
fi
on_exit() {
    local status=$?
    [ -z "$flux" ] || rm -f "$flux"
    if [ "$status" != 0 ] && $first_start; then
        log "first start failed (exit $status): removing the CLI profile and token files," \
            "so that the next start sets InfluxDB up from scratch"
        rm -f "$cli_configs" "$ha_token" "$dashboard_token"
    fi
}
trap on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

bucket_id() {
    # Table output, first column is the ID; empty when the bucket does not exist.
    influx bucket list --org "$org" --name "$1" --hide-headers 2>/dev/null | awk 'NR == 1 { print $1 }'
}

ensure_bucket() {  # name retention
    local id
    id="$(bucket_id "$1")"
    if [ -z "$id" ]; then
        log "creating bucket $1 (retention $2)"
        influx bucket create --org "$org" --name "$1" --retention "$2" >/dev/null
        id="$(bucket_id "$1")"
    fi
    [ -n "$id" ] || { echo "ha-ingestor init: bucket $1 has no ID" >&2; exit 1; }
    echo "$id"
}

ensure_dbrp() {  # database bucket-id
    # Columns: ID, database, bucket ID, ... InfluxDB 2.6+ also lists a read-only "virtual"
    # mapping for every bucket under its own name; one pointing at our bucket is good enough.
    if influx v1 dbrp list --org "$org" --db "$1" --hide-headers 2>/dev/null \
        | awk -v id="$2" '$3 == id { found = 1 } END { exit !found }'; then
        return
    fi
    log "mapping InfluxQL database $1 (rp autogen) to bucket $2"
    influx v1 dbrp create --org "$org" --db "$1" --rp autogen --bucket-id "$2" --default >/dev/null
}

ensure_token() {  # file description auth-create-permission-flags...
    local file="$1" description="$2" json token
    shift 2
    if [ -s "$file" ]; then
        return
    fi
    log "creating token: $description"
    json="$(influx auth create --org "$org" --description "$description" "$@" --json)"
    # No jq in the image: pick the "token" member out of the JSON object.
    token="$(printf '%s\n' "$json" | sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)"
    [ -n "$token" ] || { echo "ha-ingestor init: no token in auth create output" >&2; exit 1; }
    (umask 077 && printf '%s\n' "$token" >"$file.tmp")
    mv "$file.tmp" "$file"
}

events_id="$(ensure_bucket "$events_bucket" "${DOCKER_INFLUXDB_INIT_RETENTION:-0}")"
context_id="$(ensure_bucket "$context_bucket" "$context_retention")"
downsampled_id="$(ensure_bucket "$downsampled_bucket" "$downsampled_retention")"

ensure_dbrp "$database" "$events_id"
ensure_dbrp "$context_database" "$context_id"
ensure_dbrp "$downsampled_database" "$downsampled_id"

if ! influx task list --org "$org" --hide-headers 2>/dev/null | awk '{ print $2 }' | grep -qx "$task_name"; then
    log "creating task $task_name"
    flux="$(mktemp)"
    cat >"$flux" <<FLUX
option task = {name: "$task_name", every: 1h, offset: 5m}

from(bucket: "$events_bucket")
    |> range(start: -task.every)
    |> filter(fn: (r) => r._measurement == "ha_states" and r._field == "value")
    |> aggregateWindow(every: 1h, fn: mean, createEmpty: false)
    |> to(bucket: "$downsampled_bucket", org: "$org")

from(bucket: "$events_bucket")
    |> range(start: -task.every)
    |> filter(fn: (r) => r._measurement == "ha_ingestor")
    |> aggregateWindow(every: 1h, fn: last, createEmpty: false)
    |> to(bucket: "$downsampled_bucket", org: "$org")
FLUX
    influx task create --org "$org" --file "$flux" >/dev/null
fi

mkdir -p "$token_dir/dashboard"
chmod 0700 "$token_dir"
# The dashboard container (uid 1001, with influxdb's group 1000 added) mounts only this
# sub-folder, read-only: group-readable, never world-readable.
chmod 0750 "$token_dir/dashboard"
ensure_token "$ha_token" "Home Assistant (ha_ingestor) write" \
    --read-bucket "$events_id" --write-bucket "$events_id" \
    --read-bucket "$context_id" --write-bucket "$context_id"
ensure_token "$dashboard_token" "HA Ingestor dashboard (read-only)" \
    --read-bucket "$events_id" --read-bucket "$context_id" --read-bucket "$downsampled_id"
chmod 0640 "$dashboard_token"

log "done. Home Assistant token: $ha_token (docker compose exec influxdb cat it)"
