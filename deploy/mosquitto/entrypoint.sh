#!/bin/sh
# Build Mosquitto's password files and ACL, run the broker, rebuild them on SIGHUP.
#
# Two listeners (mosquitto.conf): devices log in on 1883 (devices.passwd) and
# the services on 1884 (services.passwd). Service users come from the
# environment (docker-compose.yml, .env); their rights from /mosquitto/config/acl.
# Device logins and rights are rendered from the application database into the
# mosquitto-auth volume by
#   docker compose run --rm admin devices render --devices-only --out /mosquitto/auth
# (or `hearth devices add|revoke ... --render /mosquitto/auth --devices-only`).
# A device login named like a service ("hearth-*", "home-assistant") is left out
# with a warning: on the device listener a client's id is its login, and every
# service's client id starts with "hearth-".
# Then `docker compose kill -s HUP mosquitto` reloads: this script (PID 1)
# rebuilds the files and passes SIGHUP on, and the broker re-reads them
# without a restart (connected clients whose login is gone are disconnected).
set -eu
config=${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}
auth=${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}
run=${MOSQUITTO_RUN_DIR:-/mosquitto/run}
services=$run/services.passwd
devices=$run/devices.passwd
acl=$run/acl
mkdir -p "$run" "$auth"
# The Hearth image's user (uid 10001, Dockerfile) renders into the shared volume.
chown 10001 "$auth" 2>/dev/null || true

add_user() {
  if [ -z "$3" ]; then
    echo "entrypoint: no password for MQTT user $2 (set it in .env)" >&2
    exit 1
  fi
  printf '%s\n%s\n' "$3" "$3" | mosquitto_passwd "$1" "$2" >/dev/null
}

build() {
  : > "$services.new"
  : > "$devices.new"
  chmod 0600 "$services.new" "$devices.new"
  if [ -f "$auth/devices.passwd" ]; then
    for user in $(cut -d: -f1 "$auth/devices.passwd" | grep -E '^(hearth-|home-assistant$)' || true); do
      echo "entrypoint: device login $user is named like a service: left out" >&2
    done
    grep -vE '^(hearth-[^:]*|home-assistant):' "$auth/devices.passwd" >> "$devices.new" || true
  fi
  add_user "$services.new" hearth-ingest "${MQTT_INGEST_PASSWORD:-}"
  add_user "$services.new" hearth-coach "${MQTT_COACH_PASSWORD:-}"
  add_user "$services.new" hearth-dashboard "${MQTT_DASHBOARD_PASSWORD:-}"
  # Optional: the Home Assistant bridge (a service) and a Home Assistant
  # installation (on the device listener, like any home display) (docs/INTEROP.md).
  if [ -n "${MQTT_HOME_ASSISTANT_PASSWORD:-}" ]; then
    add_user "$services.new" hearth-home-assistant "$MQTT_HOME_ASSISTANT_PASSWORD"
  fi
  if [ -n "${MQTT_HA_PASSWORD:-}" ]; then
    add_user "$devices.new" home-assistant "$MQTT_HA_PASSWORD"
  fi
  cat "$config/acl" > "$acl.new"
  if [ -f "$auth/devices.acl" ]; then
    cat "$auth/devices.acl" >> "$acl.new"
  fi
  chown mosquitto:mosquitto "$services.new" "$devices.new" "$acl.new" 2>/dev/null || true
  mv "$services.new" "$services"
  mv "$devices.new" "$devices"
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
