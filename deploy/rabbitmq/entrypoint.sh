#!/bin/sh
# One node of the clustered broker (docs/DEPLOY.md, "A clustered broker"): the shared
# Erlang cookie from the environment, the broker started, then the Hearth services'
# logins created (idempotent: each start sets the passwords from .env again). Device
# logins are not created here: see docs/DEPLOY.md.
set -eu
if [ -z "${RABBITMQ_ERLANG_COOKIE_VALUE:-}" ]; then
  echo "set RABBITMQ_ERLANG_COOKIE in .env (openssl rand -hex 24) for the clustered profile" >&2
  exit 1
fi
umask 077
printf '%s' "$RABBITMQ_ERLANG_COOKIE_VALUE" > /var/lib/rabbitmq/.erlang.cookie
chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
chmod 400 /var/lib/rabbitmq/.erlang.cookie
cp /etc/rabbitmq/hearth/rabbitmq.conf /etc/rabbitmq/hearth/enabled_plugins /etc/rabbitmq/
docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'kill -TERM $server' TERM INT
rabbitmqctl --timeout 300 await_startup
add_user() {  # name password
  [ -n "$2" ] || return 0
  rabbitmqctl add_user "$1" "$2" 2>/dev/null || rabbitmqctl change_password "$1" "$2"
  rabbitmqctl set_permissions -p / "$1" '.*' '.*' '.*'
}
add_user hearth-ingest "${MQTT_INGEST_PASSWORD:-}"
add_user hearth-coach "${MQTT_COACH_PASSWORD:-}"
add_user hearth-dashboard "${MQTT_DASHBOARD_PASSWORD:-}"
wait $server
