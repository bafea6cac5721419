#!/bin/bash
# First boot: docker-compose from SPAL (AL2023 ships no compose), in a
# separate dnf call after spal-release; --allowerasing if it conflicts, and
# AL2023's docker put back if that erased it. Any failure: the broker runs
# with docker run. See cloud-init/README.md.
set -uo pipefail

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2> /dev/null || true
}

if command -v docker-compose > /dev/null 2>&1; then
  log "docker-compose already installed"
  exit 0
fi
if ! dnf install -y spal-release; then
  log "WARNING: no SPAL repository (spal-release); the broker will run with docker run"
  exit 0
fi
if dnf install -y docker-compose; then
  log "docker-compose installed from SPAL"
elif dnf install -y --allowerasing docker-compose; then
  log "docker-compose installed from SPAL with --allowerasing"
else
  log "WARNING: docker-compose from SPAL failed; the broker will run with docker run"
  exit 0
fi
if ! rpm -q docker > /dev/null 2>&1; then
  log "WARNING: installing compose removed AL2023's docker; reinstalling it"
  dnf install -y --allowerasing docker || log "ERROR: cannot reinstall docker"
fi
if command -v docker-compose > /dev/null 2>&1; then
  log "compose: $(docker-compose version 2>&1 | head -n 1)"
else
  log "WARNING: no docker-compose; the broker will run with docker run"
fi
exit 0
