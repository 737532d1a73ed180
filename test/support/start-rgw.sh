#!/usr/bin/env bash
# Start a throwaway single-node Ceph (1 mon + 1 memstore OSD) + RADOS Gateway in DIR.
# Usage: start-rgw.sh DIR      -> last stdout line: {"endpoint":..,"accessKey":..,"secretKey":..,...}
# Stop:  stop-rgw.sh DIR [--rm] (or: kill -9 $(cat DIR/run/*.bgpid))
# Needs: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw   (Debian 12: Ceph 16.2.15)
set -euo pipefail

DIR=${1:?usage: start-rgw.sh DIR}
MEM_BYTES=${RGW_MEMSTORE_BYTES:-2147483648}   # cap of the in-RAM object store (RAM used = data stored)
TIMEOUT=${RGW_START_TIMEOUT:-120}             # seconds to wait for each readiness step

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
[ -e "$DIR/ceph.conf" ] && { echo "start-rgw: $DIR already used; give a fresh dir" >&2; exit 2; }
mkdir -p "$DIR"/{mon,osd,rgw,run,log}
CONF=$DIR/ceph.conf
t0=$(date +%s.%N)

die() { echo "start-rgw: $*" >&2; kill -9 $(cat "$DIR"/run/*.bgpid 2>/dev/null) 2>/dev/null; for f in "$DIR"/log/*.log "$DIR"/log/*.out; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }
elapsed() { echo "$(date +%s.%N) $t0" | awk '{printf "%.2f", $1-$2}'; }
step() { echo "$(elapsed)s $*" >>"$DIR/log/steps.log"; }

# Two free loopback TCP ports (kernel-chosen, ephemeral range; the OSD binds in 6800-7300 by scanning itself),
# a unique fsid and random S3 keys.
read -r MON_PORT RGW_PORT FSID ACCESS SECRET < <(/usr/bin/python3 - <<'EOF'
import socket, uuid, secrets, string
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
A = string.ascii_uppercase + string.digits; B = string.ascii_letters + string.digits
print(*[s.getsockname()[1] for s in ss], uuid.uuid4(),
      "".join(secrets.choice(A) for _ in range(20)), "".join(secrets.choice(B) for _ in range(40)))
EOF
)

cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
auth cluster required = none
auth service required = none
auth client required = none
ms bind ipv6 = false
ms bind msgr1 = false
run dir = $DIR/run
admin socket = $DIR/run/\$name.\$pid.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/log
keyring = $DIR/keyring
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
# speed: every osdmap change (osd boot, each rgw pool create) otherwise waits ~1 s for a paxos round
paxos propose interval = 0.01
paxos min wait = 0.001
[mon]
mon data = $DIR/mon/\$id
[osd]
osd data = $DIR/osd/\$id
osd objectstore = memstore
memstore device bytes = $MEM_BYTES
public addr = 127.0.0.1
cluster addr = 127.0.0.1
[client.rgw]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw thread pool size = 64
# deleted objects' data is otherwise kept (in RAM, memstore) for 2 h until RGW garbage collection
rgw gc obj min wait = 10
rgw gc processor period = 10
ms mon client mode = crc   # radosgw defaults to "secure", impossible with auth none (-13)
objecter tick interval = 0.1   # ops sent before the OSD was up otherwise wait up to 5 s for a resend
EOF

# --- monitor ---
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" >"$DIR/log/mkfs-mon.out" 2>&1 || die "mon mkfs failed"
setsid ceph-mon -c "$CONF" -i a -f </dev/null >"$DIR/log/mon.out" 2>&1 &
echo $! >"$DIR/run/mon.bgpid"

step mon started
# --- OSD (memstore) ---  'ceph osd new' blocks until the mon answers (= mon readiness)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(timeout "$TIMEOUT" ceph -c "$CONF" osd new "$OSD_UUID" 2>>"$DIR/log/cli.out") || die "mon not reachable"
mkdir -p "$DIR/osd/$OSD_ID"   # memstore mkfs asserts if the data dir is missing
step "osd id $OSD_ID allocated (mon up)"
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/mkfs-osd.out" 2>&1 || die "osd mkfs failed"
setsid ceph-osd -c "$CONF" -i "$OSD_ID" -f </dev/null >"$DIR/log/osd.out" 2>&1 &
echo $! >"$DIR/run/osd.bgpid"

step osd started
# --- RADOS gateway --- (it creates its pools itself and waits until they are active)
setsid radosgw -c "$CONF" -n client.rgw -f </dev/null >"$DIR/log/rgw.out" 2>&1 &
RGW_PID=$!; echo $RGW_PID >"$DIR/run/rgw.bgpid"

ENDPOINT="http://127.0.0.1:$RGW_PORT"
deadline=$(( $(date +%s) + TIMEOUT ))
until curl -fsS -o /dev/null "$ENDPOINT/" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || die "rgw did not answer on $ENDPOINT within ${TIMEOUT}s"
  kill -0 "$RGW_PID" 2>/dev/null || die "radosgw exited"
  sleep 0.1
done

step rgw answers HTTP
# --- S3 user ---
radosgw-admin -c "$CONF" -n client.admin user create --uid=test --display-name=test \
  --access-key="$ACCESS" --secret-key="$SECRET" >"$DIR/log/user.out" 2>&1 || die "user create failed"

step user created
cat > "$DIR/s3.json" <<EOF
{"endpoint":"$ENDPOINT","accessKey":"$ACCESS","secretKey":"$SECRET","region":"us-east-1","dir":"$DIR","startSeconds":$(elapsed)}
EOF
cat "$DIR/s3.json"
