#!/bin/bash
# A throwaway single-node Ceph on 127.0.0.1 for the S3 backend's tests: a monitor, one
# memstore OSD (data in RAM) and radosgw, from Debian's packages (radosgw ceph-mon ceph-osd).
# Recipe: shared/reference/ecosystem.md §3. Usage:
#   radosgw.sh DIR MON_V2_PORT MON_V1_PORT RGW_PORT ACCESS_KEY SECRET_KEY [STORE_BYTES]
# STORE_BYTES: the OSD's memory (default 1 GiB).
# Leaves the daemons' pids in DIR/run/{mon.a,osd.0,client.rgw.a}.pid: the caller stops them.
# Every wait is bounded; a failure prints the step and exits non-zero.
set -euo pipefail
D=$1 MONP=$2 MONP1=$3 RGW_PORT=$4 ACCESS=$5 SECRET=$6 STORE_BYTES=${7:-1073741824}
rm -rf "$D"; mkdir -p "$D"/{mon,osd0,run,log}
FSID=$(cat /proc/sys/kernel/random/uuid); C="$D/ceph.conf"
MONADDR="[v2:127.0.0.1:$MONP,v1:127.0.0.1:$MONP1]"
cat > "$C" <<CONF
[global]
fsid = $FSID
mon host = $MONADDR
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
[client.admin]
keyring = $D/admin.keyring
[mon.a]
mon data = $D/mon
keyring = $D/mon/keyring
[osd.0]
osd data = $D/osd0
keyring = $D/osd0/keyring
osd objectstore = memstore
memstore device bytes = $STORE_BYTES
[client.rgw.a]
keyring = $D/rgw.keyring
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
CONF
step() { echo "radosgw.sh: $*" >&2; }
ceph-authtool --create-keyring "$D/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$D/admin.keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$D/mon.keyring" --import-keyring "$D/admin.keyring" >/dev/null
monmaptool --create --addv a "$MONADDR" --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon -c "$C" --mkfs -i a --monmap "$D/monmap" --keyring "$D/mon.keyring"
ceph-mon -c "$C" -i a
ok=0; for _ in $(seq 60); do timeout 10 ceph -c "$C" mon stat >/dev/null 2>&1 && { ok=1; break; }; sleep 0.5; done
[ $ok = 1 ] || { step "the monitor did not answer in 30 s"; exit 1; }
U=$(cat /proc/sys/kernel/random/uuid); ID=$(timeout 30 ceph -c "$C" osd new "$U")
ceph-osd -c "$C" -i "$ID" --mkfs --osd-uuid "$U" --mkkey --no-mon-config 2>>"$D/log/mkfs.log"
timeout 30 ceph -c "$C" auth add "osd.$ID" osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' -i "$D/osd0/keyring" 2>/dev/null
ceph-osd -c "$C" -i "$ID"
ok=0; for _ in $(seq 120); do timeout 10 ceph -c "$C" osd stat 2>/dev/null | grep -q '1 up' && { ok=1; break; }; sleep 0.5; done
[ $ok = 1 ] || { step "the OSD did not come up in 60 s"; exit 1; }
timeout 30 ceph -c "$C" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' > "$D/rgw.keyring"
radosgw -c "$C" -n client.rgw.a
ok=0; for _ in $(seq 180); do curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && { ok=1; break; }; sleep 0.5; done
[ $ok = 1 ] || { step "radosgw did not answer in 90 s"; exit 1; }
timeout 60 radosgw-admin -c "$C" user create --uid=tester --display-name=tester --access-key="$ACCESS" --secret-key="$SECRET" >/dev/null
echo ready
