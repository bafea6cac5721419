#!/bin/bash
# skiff-broker.service: `start` at boot, `stop` at shutdown (docker stop:
# the broker checkpoints its WAL). A start attempt: image (pulled if
# missing), data directory, docker-compose up, or without compose an
# equivalent `docker run`; logs to CloudWatch Logs if rendered, else (or if
# that start fails) json-file. Failed attempts are retried 5, 10, 20 ...
# 300 s apart, forever; no `set -e`. With security on, each attempt first
# fetches the TLS key and chain from SSM with the instance role (nothing
# secret is in the user data). See cloud-init/README.md.
set -uo pipefail
dir="{{dir}}"
data="{{data_dir}}"
image="{{image}}"
volume="{{data_volume_id}}"
log_group="{{log_group}}"
tls_key_parameter="{{tls_key_parameter}}"
tls_cert_parameter="{{tls_cert_parameter}}"
tls_cert_sha256="{{tls_cert_sha256}}"
tls_region="{{tls_region}}"

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2> /dev/null || true
}
exists() { [ -n "$(docker ps -aq --filter name=^skiff-broker\$ "$@")" ]; }
remove() { if exists; then docker stop skiff-broker && docker rm skiff-broker; fi; }

# security: sasl_ssl. The TLS chain and key from SSM (instance role), the
# chain checked against the SHA-256 launched with, into $data/tls owned by
# the broker, key 0600, umask 077 throughout; renamed into place (the
# broker reloads them on change).
fetch_tls() {
  [ -n "$tls_key_parameter" ] || return 0
  (
    umask 077
    t="$data/{{tls_dir}}"
    get() { aws ssm get-parameter --region "$tls_region" --name "$1" --with-decryption --query Parameter.Value --output text; }
    mkdir -p "$t" && chown {{broker_uid}}:{{broker_uid}} "$t" && chmod 0700 "$t" && rm -f "$t"/*.new || exit 1
    if ! get "$tls_key_parameter" > "$t/key.pem.new" || ! get "$tls_cert_parameter" > "$t/cert.pem.new"; then
      log "ERROR: cannot read $tls_key_parameter or $tls_cert_parameter from SSM (instance role? network?)"
      exit 1
    fi
    sum=$(grep -v -- ----- "$t/cert.pem.new" | tr -d '\r\n' | sha256sum | cut -d' ' -f1)
    if [ "$sum" != "$tls_cert_sha256" ] || ! grep -q -- '-----BEGIN [A-Z ]*KEY-----' "$t/key.pem.new"; then
      log "ERROR: the TLS certificate or key in SSM is not the one this instance was launched with"
      exit 1
    fi
    chown {{broker_uid}}:{{broker_uid}} "$t"/*.new && chmod 0644 "$t/cert.pem.new" \
      && mv -f "$t/key.pem.new" "$t/key.pem" && mv -f "$t/cert.pem.new" "$t/cert.pem" || exit 1
  )
}

no_cloudwatch() { log "WARNING: the broker did not start with CloudWatch Logs ($log_group); it logs on the instance (json-file) until its next start"; }
compose_up() { (cd "$dir" && docker-compose -p skiff -f compose.yaml "$@" up -d); }
# As compose.yaml: restart policy, stop timeout; the logging options follow.
run_broker() {
  docker run -d --name skiff-broker --restart unless-stopped --env-file "$dir/broker.env" \
    -p "{{port}}:9092" -v "$data:/data" --stop-timeout {{stop_timeout}} "$@" "$image"
}

start_once() {
  # The image first: a replacement instance pulls it while it waits for
  # its data volume.
  if ! docker image inspect "$image" > /dev/null 2>&1; then
    log "pulling $image"
    docker pull "$image" || return 1
  fi
  if [ -n "$volume" ]; then
    "$dir/data-volume.sh" mount || return 1
  else
    # The broker runs as uid/gid {{broker_uid}}.
    mkdir -p "$data" && chown -R {{broker_uid}}:{{broker_uid}} "$data" || return 1
  fi
  fetch_tls || return 1
  if command -v docker-compose > /dev/null 2>&1; then
    # A container from the docker run path is not compose's.
    if ! exists --filter label=com.docker.compose.project; then remove || return 1; fi
    log "starting the broker with docker-compose"
    if [ -n "$log_group" ]; then
      compose_up -f compose.awslogs.yaml && return 0
      no_cloudwatch
    fi
    compose_up || return 1
  elif exists --filter ancestor="$image" && docker start skiff-broker; then
    log "started the broker with docker start (no compose)"
  else
    log "starting the broker with docker run (no compose)"
    remove || return 1
    if [ -n "$log_group" ]; then
      run_broker --log-driver awslogs --log-opt awslogs-region={{log_region}} --log-opt awslogs-group="$log_group" \
        --log-opt mode=non-blocking --log-opt max-buffer-size={{log_buffer}} && return 0
      no_cloudwatch
      remove || return 1
    fi
    run_broker --log-driver json-file --log-opt max-size={{log_max_size}} --log-opt max-file={{log_max_file}} || return 1
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
