#!/usr/bin/env bash
# Starts and stops the libvirt daemons the libvirt backend (--backend libvirt) and its tests
# need, on a machine without systemd where nothing else starts them (MACHINE-FACTS.md).
# Installs nothing: scripts/setup.sh installs the packages.
#
#   scripts/libvirt-daemons.sh start   virtlogd and libvirtd; waits until both URIs answer:
#                                        qemu:///system
#                                        qemu+tcp://127.0.0.1:16519/system  (HANDOVER_LIBVIRT_TCP_PORT)
#   scripts/libvirt-daemons.sh stop    stops only what `start` started (pids in /run/handover-libvirt)
#
# One libvirtd serves both URIs: the system daemon on its usual unix socket, started with
# --listen and a config that adds TCP on 127.0.0.1 only, without authentication (it is
# reachable from this machine only, as root can reach the unix socket anyway). A second
# libvirtd just for TCP does not work next to a first one: both own the same driver state
# under /run/libvirt, and the second one's drivers refuse to start ("Failed to acquire pid
# file '/run/libvirt/network/driver.pid': Resource temporarily unavailable", seen here).
# A libvirtd this script did not start is used as it is: qemu:///system then works, and the
# TCP URI only if that daemon already listens on the port (start says so otherwise).
set -euo pipefail

state=/run/handover-libvirt
here=$(cd "$(dirname "$0")" && pwd)
port=${HANDOVER_LIBVIRT_TCP_PORT:-16519}
local_uri=qemu:///system
tcp_uri=qemu+tcp://127.0.0.1:$port/system

say() { echo "libvirt-daemons: $*" >&2; }

answers() { timeout 10 virsh -c "$1" version >/dev/null 2>&1; }

# Whether the pid in a pid file is a live process (a zombie waiting to be reaped is not).
alive() {
  [ -s "$1" ] || return 1
  local pid
  pid=$(cat "$1")
  [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# Stops the daemon of a pid file this script wrote, and waits until it is gone.
stop_daemon() {
  local name=$1 file=$2
  if alive "$file"; then
    local pid
    pid=$(cat "$file")
    say "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      alive "$file" || break
      sleep 0.1
    done
    if alive "$file"; then
      say "$name ($pid) did not stop; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# libvirtd's QEMU driver probes QEMU's capabilities once and caches them, but it throws the
# cache away on every lookup when the probe saw KVM (the probe runs with CAP_DAC_OVERRIDE)
# while /dev/kvm is not readable and writable for the user it runs QEMU as: "KVM was enabled
# when probing '/usr/bin/qemu-system-x86_64', but it is not available now" in its debug log,
# then a new probe of about 4 s, 13 times per domain start (52 s, seen here with /dev/kvm
# root:root 0600 and no udev). A Debian host's udev gives /dev/kvm to the group kvm, and
# Debian's libvirt puts libvirt-qemu into it; do the same where nothing did.
ensure_kvm_access() {
  [ -c /dev/kvm ] || return 0
  if setpriv --reuid libvirt-qemu --regid libvirt-qemu --init-groups sh -c 'test -r /dev/kvm -a -w /dev/kvm' 2>/dev/null; then
    return 0
  fi
  getent group kvm >/dev/null || groupadd --system kvm
  id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm || usermod -aG kvm libvirt-qemu
  if [ "$(stat -c %G /dev/kvm)" = root ] && [ "$(stat -c %a /dev/kvm)" = 600 ]; then
    chgrp kvm /dev/kvm
    chmod 0660 /dev/kvm
    say "gave /dev/kvm to the group kvm (0660) as udev would, for libvirt-qemu"
  fi
  setpriv --reuid libvirt-qemu --regid libvirt-qemu --init-groups sh -c 'test -r /dev/kvm -a -w /dev/kvm' 2>/dev/null ||
    say "warning: libvirt-qemu cannot use /dev/kvm ($(stat -c '%U:%G %a' /dev/kvm)); libvirt will re-probe QEMU on every domain start (about 50 s each)"
}

ensure_user() {
  # libvirtd's QEMU driver looks up its default user before qemu.conf is read, and refuses to
  # start without it; Debian's libvirt-daemon-system would create it.
  if ! getent group libvirt-qemu >/dev/null; then
    groupadd --system libvirt-qemu
  fi
  if ! getent passwd libvirt-qemu >/dev/null; then
    local groups=()
    getent group kvm >/dev/null && groups=(--groups kvm)
    useradd --system --gid libvirt-qemu "${groups[@]}" --home-dir /var/lib/libvirt --no-create-home \
      --shell /usr/sbin/nologin libvirt-qemu
  fi
}

start() {
  for tool in libvirtd virtlogd virsh; do
    command -v "$tool" >/dev/null || { say "$tool is not installed (scripts/setup.sh installs it)"; exit 1; }
  done
  [ "$(id -u)" -eq 0 ] || { say "must run as root (qemu:///system)"; exit 1; }
  mkdir -p "$state" /var/log/libvirt /var/lib/libvirt
  chmod 0755 "$state"
  ensure_user
  ensure_kvm_access

  # virtlogd: libvirtd's QEMU driver sends QEMU's output to it, and domain creation fails
  # without it. Another virtlogd (its usual pid file) is fine too.
  if alive "$state/virtlogd.pid" || alive /run/virtlogd.pid; then
    say "virtlogd runs"
  else
    rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock
    virtlogd -d --pid-file "$state/virtlogd.pid"
    say "started virtlogd ($(cat "$state/virtlogd.pid" 2>/dev/null || echo '?'))"
  fi

  if alive "$state/libvirtd.pid"; then
    say "libvirtd runs (started earlier by this script)"
  elif answers "$local_uri"; then
    say "a libvirtd not started by this script answers on $local_uri; using it as it is"
  else
    cat >"$state/libvirtd.conf" <<EOF
# Written by scripts/libvirt-daemons.sh: the system libvirtd plus loopback-only TCP.
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$port"
auth_tcp = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
    # Under a subreaper (scripts/subreaper.py): QEMU's that end are reaped at once, not when
    # this machine's PID 1 gets round to it, which libvirt would wait for at every domain's end.
    local launcher=()
    if command -v python3 >/dev/null; then
      launcher=(python3 "$here/subreaper.py")
    else
      say "python3 is missing: libvirtd runs without a subreaper (each domain's end waits for PID 1 to reap QEMU)"
    fi
    setsid "${launcher[@]}" libvirtd --listen --config "$state/libvirtd.conf" --pid-file "$state/libvirtd.pid" -d \
      </dev/null >>/var/log/libvirt/libvirtd-start.log 2>&1 &
    local wait_until=$((SECONDS + 30))
    until alive "$state/libvirtd.pid" || ((SECONDS > wait_until)); do sleep 0.1; done
    say "started libvirtd ($(cat "$state/libvirtd.pid" 2>/dev/null || echo '?')) for $local_uri and $tcp_uri"
  fi

  local deadline=$((SECONDS + 60))
  until answers "$local_uri"; do
    if ((SECONDS > deadline)); then
      say "$local_uri does not answer; see /var/log/libvirt/libvirtd.log"
      exit 1
    fi
    sleep 0.2
  done
  until answers "$tcp_uri"; do
    if ((SECONDS > deadline)); then
      if alive "$state/libvirtd.pid"; then
        say "$tcp_uri does not answer; see /var/log/libvirt/libvirtd.log"
        exit 1
      fi
      say "$tcp_uri does not answer: the running libvirtd (not started here) does not listen on TCP port $port"
      exit 1
    fi
    sleep 0.2
  done
  say "$local_uri and $tcp_uri answer"
}

stop() {
  stop_daemon libvirtd "$state/libvirtd.pid"
  stop_daemon virtlogd "$state/virtlogd.pid"
  rm -f "$state/libvirtd.conf"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
