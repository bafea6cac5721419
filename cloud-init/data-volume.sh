#!/bin/bash
# The broker's EBS data volume at {{data_dir}} (cloud-init/README.md).
#   mount: find (bounded wait), format only if blank, mount by UUID, grow,
#          chown 65532; every boot, before the broker
#   grow:  grow the mounted file system to the volume's size
set -uo pipefail
vol="{{data_volume_id}}"
mnt="{{data_dir}}"
attach="{{data_device}}"
wait_s=${SKIFF_VOLUME_WAIT:-120}

log() {
  echo "skiff: $*"
  echo "skiff: $*" > /dev/console 2> /dev/null || true
}
fail() {
  log "ERROR: data volume $vol: $*"
  exit 1
}

# By volume id: the NVMe serial on Nitro. Xen (t2) has none, only the
# attachment name, which it keeps.
find_device() {
  local serial=${vol/-/} id d
  id=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$serial
  for d in "$id" "$id"_* "$id"-ns-*; do
    [ -b "$d" ] && readlink -f "$d" && return 0
  done
  for d in /sys/block/nvme*; do
    [ "$(tr -d ' ' < "$d/device/serial" 2> /dev/null)" = "$serial" ] && echo "/dev/${d##*/}" && return 0
  done
  if [ "$(cat /sys/hypervisor/type 2> /dev/null)" = xen ]; then
    for d in "/dev/$attach" "/dev/xvd${attach#sd}"; do
      [ -b "$d" ] && readlink -f "$d" && return 0
    done
  fi
  return 1
}
is_ours() { [ "$(findmnt -rno SOURCE "$mnt")" = "$dev" ] || fail "$mnt is not $dev"; }
grow() {
  local before
  before=$(stat -f -c %b "$mnt")
  xfs_growfs -d "$mnt" > /dev/null || fail "xfs_growfs failed"
  [ "$(stat -f -c %b "$mnt")" = "$before" ] || log "data volume $vol grown: $before -> $(stat -f -c %b "$mnt") blocks"
}

[ -n "$vol" ] || exit 0
case ${1:-} in
  grow)
    mountpoint -q "$mnt" || fail "not mounted"
    dev=$(find_device) || fail "not attached"
    is_ours
    grow
    exit 0
    ;;
  mount) ;;
  *) echo "usage: $0 mount|grow" >&2; exit 2 ;;
esac

waited=0
until dev=$(find_device); do
  [ "$waited" -ge "$wait_s" ] && fail "not attached after ${wait_s}s"
  [ "$waited" -eq 0 ] && log "waiting up to ${wait_s}s for data volume $vol"
  sleep 2
  waited=$((waited + 2))
done

if ! mountpoint -q "$mnt"; then
  # Unmounted, the mount point stays root's: no broker writes the root volume.
  if ! { mkdir -p "$mnt" && chown 0:0 "$mnt" && chmod 0755 "$mnt"; }; then fail "cannot prepare $mnt"; fi
  [ -z "$(findmnt -rno TARGET -S "$dev")" ] || fail "$dev is mounted elsewhere"
  # Exit 2: no file system, RAID or partition table signature at all.
  info=$(blkid -p -o export "$dev")
  rc=$?
  if [ "$rc" -eq 2 ]; then
    log "formatting empty data volume $vol ($dev) as XFS"
    mkfs.xfs -q -K -L skiff-data "$dev" || fail "mkfs.xfs failed"
    info=$(blkid -p -o export "$dev") || fail "no file system after mkfs"
  elif [ "$rc" -ne 0 ]; then
    fail "cannot probe $dev (blkid exit $rc)"
  fi
  type=$(sed -n 's/^TYPE=//p' <<< "$info")
  uuid=$(sed -n 's/^UUID=//p' <<< "$info")
  [ "$type" = xfs ] || fail "$dev holds '${type:-a partition table}', not XFS: left untouched"
  [[ $uuid =~ ^[0-9a-f-]{36}$ ]] || fail "bad UUID '$uuid'"
  [ "$(blkid -t UUID="$uuid" -o device | wc -l)" -le 1 ] || fail "UUID $uuid is on several devices: detach the copy"
  line="UUID=$uuid $mnt xfs defaults,noatime,nofail 0 0"
  if ! grep -qxF "$line" /etc/fstab; then
    # New file, flushed, renamed over the old: never a torn fstab.
    if ! { { grep -v "^[^#]*[[:space:]]${mnt}[[:space:]]" /etc/fstab; echo "$line"; } > /etc/fstab.skiff &&
      chmod 0644 /etc/fstab.skiff && sync /etc/fstab.skiff && mv /etc/fstab.skiff /etc/fstab; }; then
      fail "cannot write /etc/fstab"
    fi
    systemctl daemon-reload || true
  fi
  mount "$mnt" || fail "mount failed"
fi
is_ours
grow
chown -R 65532:65532 "$mnt" || fail "chown failed"
log "data volume $vol ($dev) mounted at $mnt"
