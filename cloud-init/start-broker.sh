#!/bin/bash
# Starts the Skiff broker from {{dir}}/compose.yaml. Prefers docker-compose,
# then the docker compose plugin, then an equivalent `docker run` with the
# same image, settings file, port, data directory and restart policy (the
# health check comes from the image: a --health-cmd would need a shell there).
set -euo pipefail

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2>/dev/null || true
}

cd "{{dir}}"
# The broker runs as uid/gid 65532 (no root in the container): the host
# directory mounted on /data must be its own, or it cannot create the database.
mkdir -p "{{data_dir}}"
chown -R 65532:65532 "{{data_dir}}"

if command -v docker-compose > /dev/null 2>&1; then
  log "starting the broker with docker-compose"
  docker-compose -f compose.yaml up -d
elif docker compose version > /dev/null 2>&1; then
  log "starting the broker with docker compose"
  docker compose -f compose.yaml up -d
else
  log "starting the broker with docker run (no compose found)"
  docker rm -f skiff-broker > /dev/null 2>&1 || true
  docker run -d --name skiff-broker \
    --restart unless-stopped \
    --env-file "{{dir}}/broker.env" \
    -p "{{port}}:9092" \
    -v "{{data_dir}}:/data" \
    --stop-timeout 30 \
    "{{image}}"
fi
log "broker container started"
docker ps --filter name=skiff-broker
