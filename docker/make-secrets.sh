#!/bin/sh
# Make the secret files the compose stack reads (dev and prod), once: random values, mode 0600, each owned
# by the uid of the container that reads it (influxdb 1000; sports-webhooks and dashboard 1001).
# Existing files are kept. Run as root (sudo) so the ownership can be set.
#   sudo ./make-secrets.sh [DIR]        (default: ./secrets next to this script)
#   DASHBOARD_USER=admin DASHBOARD_PASSWORD=... to choose the dashboard login (else printed once)
set -eu
dir="${1:-$(dirname "$0")/secrets}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

make() {  # make NAME UID CONTENT
    file="$dir/$1"
    if [ -s "$file" ]; then
        echo "kept    $file"
    else
        printf '%s\n' "$3" >"$file"
        echo "created $file"
    fi
    chmod 0600 "$file"
    if [ "$(id -u)" = 0 ]; then
        chown "$2:$2" "$file"
    else
        echo "warning: not root, $file stays owned by $(id -u); the container (uid $2) cannot read it" >&2
    fi
}

make influxdb_admin_password 1000 "$(random)"
make influxdb_admin_token 1000 "$(random)"
make sports_webhooks_api_key 1001 "$(random)"
make sports_webhooks_read_key 1001 "$(random)"
if [ ! -s "$dir/dashboard.htpasswd" ]; then
    user="${DASHBOARD_USER:-admin}"
    password="${DASHBOARD_PASSWORD:-}"
    if [ -z "$password" ]; then
        password="$(random | cut -c1-24)"
        echo "dashboard login: $user / $password   (shown once; stored only as a hash)"
    fi
    # On its own line: a failure inside $(...) in an argument would not stop the script.
    digest="$(openssl passwd -apr1 "$password")"
    [ -n "$digest" ] || { echo "error: openssl passwd gave no hash" >&2; exit 1; }
    make dashboard.htpasswd 1001 "$user:$digest"
else
    make dashboard.htpasswd 1001 ""
fi
