#!/usr/bin/env bash
# Install the Debian packages the tests run against, when they are missing:
# Mosquitto, InfluxDB 1.x (v1 HTTP API), PostgreSQL and Chromium (for Playwright), with
# Noto fonts for the pages in Urdu; RabbitMQ for the clustered-broker test.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || missing+=(influxdb)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# RabbitMQ 3.10 with its MQTT plugin: the 3-node clustered broker of tests/cluster/ (docs/DEPLOY.md)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
# Urdu (and other scripts) drawn with real glyphs in the browser tests (docs/I18N.md)
[ -e /usr/share/fonts/truetype/noto/NotoNastaliqUrdu-Regular.ttf ] || missing+=(fonts-noto-core)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
