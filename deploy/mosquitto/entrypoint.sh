#!/bin/sh
# Build Mosquitto's password file and ACL, run the broker, rebuild both on SIGHUP.
#
# Service users come from the environment (docker-compose.yml, .env); their
# rights from /mosquitto/config/acl. Device logins and rights are rendered from
# the application database into the mosquitto-auth volume by
#   docker compose run --rm admin devices render --devices-only --out /mosquitto/auth
# (or `hearth devices add|revoke ... --render /mosquitto/auth --devices-only`).
# Then `docker compose kill -s HUP mosquitto` reloads: this script (PID 1)
# rebuilds the files and passes SIGHUP on, and the broker re-reads them
# without a restart (connected clients whose login is gone are disconnected).
set -eu
config=${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}
auth=${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}
run=${MOSQUITTO_RUN_DIR:-/mosquitto/run}
passwd=$run/passwd
acl=$run/acl
mkdir -p "$run" "$auth"
# The Hearth image's user (uid 10001, Dockerfile) renders into the shared volume.
chown 10001 "$auth" 2>/dev/null || true

add_user() {
  if [ -z "$2" ]; then
    echo "entrypoint: no password for MQTT user $1 (set it in .env)" >&2
    exit 1
  fi
  printf '%s\n%s\n' "$2" "$2" | mosquitto_passwd "$passwd.new" "$1" >/dev/null
}

build() {
  : > "$passwd.new"
  chmod 0600 "$passwd.new"
  if [ -f "$auth/devices.passwd" ]; then
    cat "$auth/devices.passwd" >> "$passwd.new"
  fi
  add_user hearth-ingest "${MQTT_INGEST_PASSWORD:-}"
  add_user hearth-coach "${MQTT_COACH_PASSWORD:-}"
  add_user hearth-dashboard "${MQTT_DASHBOARD_PASSWORD:-}"
  # Optional: the Home Assistant bridge and a Home Assistant installation (docs/INTEROP.md).
  if [ -n "${MQTT_HOME_ASSISTANT_PASSWORD:-}" ]; then
    add_user hearth-home-assistant "$MQTT_HOME_ASSISTANT_PASSWORD"
  fi
  if [ -n "${MQTT_HA_PASSWORD:-}" ]; then
    add_user home-assistant "$MQTT_HA_PASSWORD"
  fi
  cat "$config/acl" > "$acl.new"
  if [ -f "$auth/devices.acl" ]; then
    cat "$auth/devices.acl" >> "$acl.new"
  fi
  chown mosquitto:mosquitto "$passwd.new" "$acl.new" 2>/dev/null || true
  mv "$passwd.new" "$passwd"
  mv "$acl.new" "$acl"
}

build
mosquitto -c "$config/mosquitto.conf" &
broker=$!
trap 'build && kill -HUP "$broker"' HUP
trap 'kill -TERM "$broker"' TERM INT
# `wait` returns early when a trapped signal arrives: keep waiting while the broker runs.
while kill -0 "$broker" 2>/dev/null; do
  wait "$broker" || true
done
wait "$broker"
