#!/bin/sh
# Build Mosquitto's password file, then run the broker.
# Service users come from the environment (docker-compose.yml, .env);
# device credentials are kept by an administrator in the data volume:
#   docker compose exec mosquitto mosquitto_passwd /mosquitto/data/devices.passwd DEVICE_ID
set -eu
mkdir -p /mosquitto/run
passwd=/mosquitto/run/passwd
if [ -f /mosquitto/data/devices.passwd ]; then
  cp /mosquitto/data/devices.passwd "$passwd"
else
  : > "$passwd"
fi
add_user() {
  if [ -z "$2" ]; then
    echo "entrypoint: no password for MQTT user $1 (set it in .env)" >&2
    exit 1
  fi
  mosquitto_passwd -b "$passwd" "$1" "$2"
}
add_user hearth-ingest "${MQTT_INGEST_PASSWORD:-}"
add_user hearth-coach "${MQTT_COACH_PASSWORD:-}"
add_user hearth-dashboard "${MQTT_DASHBOARD_PASSWORD:-}"
chmod 0600 "$passwd"
chown mosquitto:mosquitto "$passwd" 2>/dev/null || true
exec mosquitto -c /mosquitto/config/mosquitto.conf
