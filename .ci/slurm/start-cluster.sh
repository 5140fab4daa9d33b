#!/usr/bin/env bash
# Start (idempotently) the two-node test cluster of slurm.conf.in on 127.0.0.1: munged,
# slurmctld, and `slurmd -N n1` / `slurmd -N n2`. Needs root and Debian's slurm-wlm + munge.
# Running it again while the cluster is up changes nothing; a daemon that died is started again.
# Exit 0 once both nodes are idle; otherwise the daemons' log tails and exit 1.
#   EXPKIT_SLURM_STATE  where state, spool and logs live (default /var/lib/expkit-slurm)
#   --stop              stop the daemons this script started
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${EXPKIT_SLURM_STATE:-/var/lib/expkit-slurm}"
conf=/etc/slurm/slurm.conf

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "${1:-}" = "--stop" ]; then
    for f in "$state"/slurmd-n1.pid "$state"/slurmd-n2.pid "$state"/slurmctld.pid; do
        pid_alive "$f" && kill "$(cat "$f")"
    done
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "start-cluster.sh: needs root (slurmd runs jobs as their users)" >&2; exit 1; }
for tool in slurmctld slurmd munged scontrol sinfo; do
    command -v "$tool" >/dev/null || { echo "start-cluster.sh: $tool not found; apt-get install slurm-wlm munge" >&2; exit 1; }
done

mkdir -p "$state/ctld" "$state/d-n1" "$state/d-n2" /etc/slurm
# pytest -n 2 starts the session fixture in each worker: one of them starts the daemons.
exec 9>"$state/start.lock"
flock 9
grep -qE '^127\.0\.0\.1.*\bn1\b' /etc/hosts || echo "127.0.0.1 n1 n2" >> /etc/hosts
sed "s|@STATE@|$state|g" "$here/slurm.conf.in" > "$conf.new"
if ! cmp -s "$conf.new" "$conf"; then
    mv "$conf.new" "$conf"
    changed=1
else
    rm "$conf.new"
    changed=0
fi

# munge: one key, one daemon.
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key 2>/dev/null || true
chmod 400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    munged --force 9>&- 2>/dev/null || sudo -u munge munged --force 9>&-
    for _ in $(seq 20); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
fi

if pid_alive "$state/slurmctld.pid" && [ "$changed" = 1 ]; then
    scontrol reconfigure || true
fi
pid_alive "$state/slurmctld.pid" || slurmctld 9>&-
for node in n1 n2; do
    pid_alive "$state/slurmd-$node.pid" || slurmd -N "$node" 9>&-
done

# Up when both nodes take jobs; a node left DOWN by an earlier run is resumed.
for i in $(seq 60); do
    states="$(sinfo -h -N -o '%N %t' 2>/dev/null || true)"
    if echo "$states" | grep -qE '^n1 (idle|mix|alloc)' && echo "$states" | grep -qE '^n2 (idle|mix|alloc)'; then
        exit 0
    fi
    if [ $((i % 10)) = 5 ]; then
        for node in n1 n2; do
            echo "$states" | grep -qE "^$node (down|drain|drng)" && scontrol update NodeName="$node" State=RESUME 2>/dev/null || true
        done
    fi
    sleep 1
done
echo "start-cluster.sh: the nodes did not come up (sinfo: $(sinfo -h -N -o '%N %t %E' 2>&1 | tr '\n' ';'))" >&2
tail -n 20 "$state/slurmctld.log" "$state/slurmd-n1.log" "$state/slurmd-n2.log" >&2 2>/dev/null || true
exit 1
