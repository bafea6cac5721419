#!/bin/bash
# skiff-broker.service: `start` at boot, `stop` at shutdown (docker stop:
# the broker checkpoints its WAL). A start attempt: image (pulled if
# missing), data directory, docker-compose up, or without compose an
# equivalent `docker run`; logs to CloudWatch Logs if rendered, else (or if
# that start fails) json-file. Failed attempts are retried 5, 10, 20 ...
# 300 s apart, forever; no `set -e`. With security on, each attempt first
# fetches the TLS private key from SSM Parameter Store with the instance
# role (nothing secret is in the user data). See cloud-init/README.md.
set -uo pipefail
dir="{{dir}}"
data="{{data_dir}}"
image="{{image}}"
volume="{{data_volume_id}}"
log_group="{{log_group}}"
tls_key_parameter="{{tls_key_parameter}}"
tls_region="{{tls_region}}"

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2> /dev/null || true
}
exists() { [ -n "$(docker ps -aq --filter name=^skiff-broker\$ "$@")" ]; }
remove() { if exists; then docker stop skiff-broker && docker rm skiff-broker; fi; }

# The broker's certificate chain (from the user data) and private key (from
# SSM, decrypted with the AWS-managed key) into $data/{{tls_dir}}, owned by
# the broker's uid, the key 0600, under umask 077 from the first byte;
# each file replaced whole (the broker reloads them when they change).
fetch_tls() {
  [ -n "$tls_key_parameter" ] || return 0
  (
    umask 077
    tls="$data/{{tls_dir}}"
    mkdir -p "$tls" && chown {{broker_uid}}:{{broker_uid}} "$tls" && chmod 0700 "$tls" || exit 1
    rm -f "$tls/key.pem.new"
    if ! aws ssm get-parameter --region "$tls_region" --name "$tls_key_parameter" --with-decryption \
      --query Parameter.Value --output text > "$tls/key.pem.new"; then
      log "ERROR: cannot read the TLS key from SSM parameter $tls_key_parameter (instance role, network?)"
      rm -f "$tls/key.pem.new"
      exit 1
    fi
    if ! grep -q -- '-----BEGIN PRIVATE KEY-----' "$tls/key.pem.new"; then
      log "ERROR: SSM parameter $tls_key_parameter holds no PEM private key"
      rm -f "$tls/key.pem.new"
      exit 1
    fi
    chown {{broker_uid}}:{{broker_uid}} "$tls/key.pem.new" && chmod 0600 "$tls/key.pem.new" \
      && install -m 0644 -o {{broker_uid}} -g {{broker_uid}} "$dir/tls-cert.pem" "$tls/cert.pem.new" \
      && mv -f "$tls/key.pem.new" "$tls/key.pem" && mv -f "$tls/cert.pem.new" "$tls/cert.pem" || exit 1
    log "TLS certificate and key in place"
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
