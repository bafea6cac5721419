#!/bin/bash
# skiff-broker.service: `start` at boot, `stop` at shutdown (docker stop:
# the broker checkpoints its WAL). A start attempt: data directory, image
# (pulled if missing), docker-compose up, or without compose an equivalent
# `docker run`. Failed attempts are retried 5, 10, 20 ... 300 s apart,
# forever; no `set -e`. See cloud-init/README.md.
set -uo pipefail
dir="{{dir}}"
data="{{data_dir}}"
image="{{image}}"
volume="{{data_volume_id}}"

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2> /dev/null || true
}
exists() { [ -n "$(docker ps -aq --filter name=^skiff-broker\$ "$@")" ]; }
remove() { if exists; then docker stop skiff-broker && docker rm skiff-broker; fi; }

start_once() {
  if [ -n "$volume" ]; then
    "$dir/data-volume.sh" mount || return 1
  else
    # The broker runs as uid/gid 65532.
    mkdir -p "$data" && chown -R 65532:65532 "$data" || return 1
  fi
  if ! docker image inspect "$image" > /dev/null 2>&1; then
    log "pulling $image"
    docker pull "$image" || return 1
  fi
  if command -v docker-compose > /dev/null 2>&1; then
    # A container from the docker run path is not compose's.
    if ! exists --filter label=com.docker.compose.project; then remove || return 1; fi
    log "starting the broker with docker-compose"
    (cd "$dir" && docker-compose -p skiff -f compose.yaml up -d) || return 1
  elif exists --filter ancestor="$image"; then
    log "starting the broker with docker start (no compose)"
    docker start skiff-broker || return 1
  else
    log "starting the broker with docker run (no compose)"
    remove || return 1
    # As compose.yaml: restart policy, stop timeout, log rotation.
    docker run -d --name skiff-broker \
      --restart unless-stopped \
      --env-file "$dir/broker.env" \
      -p "{{port}}:9092" \
      -v "$data:/data" \
      --stop-timeout {{stop_timeout}} \
      --log-driver json-file \
      --log-opt max-size={{log_max_size}} \
      --log-opt max-file={{log_max_file}} \
      "$image" || return 1
  fi
}

case ${1:-} in
  start)
    delay=${SKIFF_RETRY_DELAY:-5}
    max=${SKIFF_RETRY_MAX_DELAY:-300}
    limit=${SKIFF_RETRY_ATTEMPTS:-0}
    attempt=1
    until start_once; do
      if [ "$limit" -gt 0 ] && [ "$attempt" -ge "$limit" ]; then
        log "ERROR: broker not started after $attempt attempts"
        exit 1
      fi
      log "WARNING: start attempt $attempt failed; next in ${delay}s"
      sleep "$delay"
      attempt=$((attempt + 1))
      delay=$((delay * 2 < max ? delay * 2 : max))
    done
    log "broker container started (attempt $attempt)"
    ;;
  stop) if exists; then docker stop skiff-broker; fi ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
