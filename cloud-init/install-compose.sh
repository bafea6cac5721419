#!/bin/bash
# Installs docker-compose on Amazon Linux 2023, which ships none.
# Route: the Supplementary Packages for Amazon Linux (SPAL) repository,
# in two separate dnf calls (the repo package first, then compose).
# If that fails, start-broker.sh falls back to plain `docker run`, so a
# missing compose never leaves the broker down; the failure is logged.
set -uo pipefail

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2>/dev/null || true
}

if command -v docker-compose > /dev/null 2>&1; then
  log "docker-compose already installed"
  exit 0
fi

if dnf install -y spal-release && dnf install -y docker-compose; then
  log "docker-compose installed from SPAL: $(docker-compose version 2>&1 | head -n 1)"
  exit 0
fi

log "WARNING: docker-compose from SPAL failed; trying the docker compose plugin"
if dnf install -y docker-compose-plugin && docker compose version > /dev/null 2>&1; then
  log "docker compose plugin installed"
  exit 0
fi

log "WARNING: no docker-compose available; the broker will run with plain docker run"
exit 0
