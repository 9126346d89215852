#!/usr/bin/env bash
# nat64br's benchmark lab (sudo make bench-lab): nat64br beside TAYGA, the
# kernel and plain AF_PACKET copy loops, in one run, on the same wires.
#
# Three network namespaces in a line, joined by two veth pairs:
#
#   c6 [c6x] <==veth==> [xc6] xl [xs4] <==veth==> [s4x] s4
#   IPv6-only client     middle box / translator     server (IPv4 for NAT64)
#
# Variants configured in the middle namespace "xl":
#   tayga         TAYGA on a TUN device, dynamic pool 198.51.100.0/24 + nftables
#                 MASQUERADE to 192.0.2.1 (the common "stateful NAT64" setup)
#   tayga-1to1    TAYGA with one static map, no NAT44, no conntrack
#   kernel        plain kernel IPv6 forwarding (no translation)
#   bridge        Linux bridge br0 enslaving xc6+xs4 (pure L2, no translation)
#   gofwd-MODE    gofwd (./gofwd, AF_PACKET frame copier, no translation),
#                 MODE = single | block | mmsg | ring | ring2 (see gofwd/main.go)
#   cfloor[-spin] cfloor (./cfloor, C, poll + recvfrom + send, one frame at a
#                 time): the latency floor of a sleeping forwarder; not in
#                 the default bench (needs a C compiler)
#   nat64br-siit  nat64br run between xc6 and xs4: prefix 2001:db8:64::/96 and
#                 one EAM entry for the client (a TAYGA map line)
#   nat64br-nat64 nat64br run, stateful: the client shares pool4 192.0.2.1
#   nat64br-1arm-siit, nat64br-1arm-nat64
#                 the same, one-armed: xl bridges xc6, xs4 and a third veth
#                 (xarm) in br0, and nat64br serves both families on that
#                 veth's other end (arm0), as a one-NIC box on a LAN does;
#                 every frame crosses the bridge twice (compare with
#                 "bridge", not only with the two-port variants)
#
# Traffic never leaves these namespaces: every address is from 2001:db8::/32,
# 192.0.2.0/24 or 198.51.100.0/24 and lives on the veths created here.
#
# Usage: ./lab.sh <command> [args]
#   deps                 apt-get install the tools, build gofwd
#   up [on|off]          create namespaces + veths, veth offloads on/off (default off)
#   down                 stop every process in c6/xl/s4 (by PID), delete them
#   run-kernel | run-bridge | run-tayga [masq|1to1] | run-gofwd [single|block|mmsg|ring|ring2]
#   run-cfloor [spin]
#   run-nat64br [siit|nat64|1arm-siit|1arm-nat64]
#                        (re)build the topology and configure that variant
#   measure [reps]       run all metrics against the configured variant
#   bench [variants...]  the whole side-by-side run (offloads off, all variants,
#                        then offloads on for a subset), writes results/<stamp>/
#   report [dir]         print the markdown tables for a results dir
#
# Environment: DUR (iperf3 seconds, 10), REPS (3), OFFLOAD (off), PING_N (100),
# PING_I (0.02), BENCH_VARIANTS (what bench runs with offloads off), ON_VARIANTS
# (variants re-run with offloads on; "none" skips that pass), COPY_REF (the copy
# loop the report divides by, gofwd-ring2), NAT64BR_EXTRA (a YAML line added to
# nat64br's configuration), PROFILE_DIR (nat64br writes a CPU profile there;
# bench sets it to the results dir), STATE (/tmp/nat64br-bench),
# QUIET_IDLE (90), QUIET_MAX (1800), FORK_MAX (60), STEAL_MAX (10), RETRIES (3): see
# "guarding" below.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${STATE:-/tmp/nat64br-bench}"
DUR="${DUR:-10}"
REPS="${REPS:-3}"
OFFLOAD="${OFFLOAD:-off}"
PING_N="${PING_N:-100}"
PING_I="${PING_I:-0.02}"
ALL_VARIANTS="tayga tayga-1to1 kernel bridge gofwd-single gofwd-block gofwd-mmsg gofwd-ring gofwd-ring2 cfloor cfloor-spin nat64br-siit nat64br-nat64 nat64br-1arm-siit nat64br-1arm-nat64"
BENCH_VARIANTS="${BENCH_VARIANTS:-tayga kernel gofwd-mmsg gofwd-ring2 nat64br-siit nat64br-nat64}"
ON_VARIANTS="${ON_VARIANTS:-tayga kernel nat64br-siit nat64br-nat64}"
REPO="$(cd "$HERE/.." && pwd)"
COPY_REF="${COPY_REF:-gofwd-ring2}"   # the copy loop the report compares with
QUIET_IDLE="${QUIET_IDLE:-90}"   # % idle the machine must show before/after each test
QUIET_MAX="${QUIET_MAX:-1800}"   # longest wait for quiet, seconds
FORK_MAX="${FORK_MAX:-60}"       # forks during one test above which it counts as disturbed
STEAL_MAX="${STEAL_MAX:-10}"     # % of the machine's time the host took during one test, beyond which ditto
RETRIES="${RETRIES:-3}"

NS_C=c6 NS_X=xl NS_S=s4
# Addresses (documentation ranges only)
C6_NET=2001:db8:6::/64  C6_ADDR=2001:db8:6::2  XL_C6=2001:db8:6::1
S6_NET=2001:db8:4::/64  S6_ADDR=2001:db8:4::2  XL_S6=2001:db8:4::1   # kernel-forwarding variant
L2_C=2001:db8:b::6      L2_S=2001:db8:b::4                           # bridge / gofwd (one L2 segment)
S4_ADDR=192.0.2.2       XL_S4=192.0.2.1                              # IPv4 segment
PREFIX=2001:db8:64::/96                                              # NAT64 prefix (RFC 6052 style)
NAT64_TARGET=2001:db8:64::c000:202                                   # = 2001:db8:64::192.0.2.2
POOL=198.51.100.0/24    TAYGA_V4=198.51.100.1  MAP_V4=198.51.100.10

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
need_root() { [ "$(id -u)" = 0 ] || die "run as root"; }

find_go() {
  local g
  for g in "${GO:-}" "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go-1.*/bin/go; do
    [ -n "$g" ] && [ -x "$g" ] && { echo "$g"; return 0; }
  done
  return 1
}

cmd_deps() {
  need_root
  local pkgs="iproute2 iputils-ping iperf3 ethtool tayga nftables jq procps"
  local missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    log "installing:$missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
  fi
  if ! find_go >/dev/null; then
    log "no Go toolchain: installing Debian golang-go (>= 1.19 is enough)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go ca-certificates
  fi
  cmd_build
}

cmd_build() {
  local go; go="$(find_go)" || die "no go toolchain (run ./lab.sh deps)"
  mkdir -p "$STATE/bin"
  log "building gofwd and nat64br with $("$go" version | awk '{print $3}')"
  (cd "$HERE/gofwd" && GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" build -trimpath -o "$STATE/bin/gofwd" .)
  (cd "$REPO" && CGO_ENABLED=0 "$go" build -trimpath -o "$STATE/bin/nat64br" ./cmd/nat64br)
}

# ------------------------------------------------------------------ topology

set_offloads() { # on|off
  local mode=$1 ns dev pairs=("$NS_C c6x" "$NS_X xc6" "$NS_X xs4" "$NS_S s4x")
  nsx "$NS_X" ip link show arm0 >/dev/null 2>&1 && pairs+=("$NS_X xarm" "$NS_X arm0")
  for pair in "${pairs[@]}"; do
    set -- $pair; ns=$1 dev=$2
    if [ "$mode" = off ]; then
      nsx "$ns" ethtool -K "$dev" rx off tx off sg off tso off gso off gro off >/dev/null 2>&1 || true
    else
      # veth defaults: tx csum, SG, TSO, GSO on; GRO off.
      nsx "$ns" ethtool -K "$dev" rx on tx on sg on tso on gso on gro off >/dev/null 2>&1 || true
    fi
  done
}

offload_summary() {
  nsx "$NS_C" ethtool -k c6x | awk -F': ' '/^(tx-checksumming|scatter-gather|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):/{printf "%s=%s ", $1, $2}'
}

cmd_up() {
  need_root
  local mode=${1:-$OFFLOAD}
  cmd_down quiet
  mkdir -p "$STATE"
  for ns in $NS_C $NS_X $NS_S; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    for k in all default; do
      nsx "$ns" sysctl -qw net.ipv6.conf.$k.accept_dad=0 net.ipv6.conf.$k.accept_ra=0 \
        net.ipv6.conf.$k.router_solicitations=0 net.ipv4.conf.$k.rp_filter=0
    done
  done
  ip link add c6x netns "$NS_C" type veth peer name xc6 netns "$NS_X"
  ip link add xs4 netns "$NS_X" type veth peer name s4x netns "$NS_S"
  for pair in "$NS_C c6x" "$NS_X xc6" "$NS_X xs4" "$NS_S s4x"; do
    set -- $pair; nsx "$1" ip link set "$2" up
  done
  set_offloads "$mode"
  echo "$mode" > "$STATE/offload"
  log "topology up (offloads $mode: $(offload_summary))"
}

# Stop every process living in our namespaces, by PID, then delete them.
cmd_down() {
  need_root
  local ns pid pids
  for ns in $NS_C $NS_X $NS_S; do
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $pids; do
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns"
  done
  rm -f "$STATE/variant" "$STATE/target" "$STATE/xpid" "$STATE"/gofwd*.log "$STATE"/cfloor*.log "$STATE/tayga.log" "$STATE/nat64br.log" "$STATE/iperf3-server.log"
  [ "${1:-}" = quiet ] || log "topology down"
}

set_variant() { echo "$1" > "$STATE/variant"; echo "$2" > "$STATE/target"; echo "${3:-}" > "$STATE/xpid"; }

start_iperf_server() {
  ip netns exec "$NS_S" iperf3 -s >"$STATE/iperf3-server.log" 2>&1 &
  echo $! > "$STATE/iperf3.pid"
}

cmd_run_kernel() {
  cmd_up "$OFFLOAD"
  nsx "$NS_C" ip -6 addr add $C6_ADDR/64 dev c6x nodad
  nsx "$NS_C" ip -6 route add $S6_NET via $XL_C6
  nsx "$NS_X" ip -6 addr add $XL_C6/64 dev xc6 nodad
  nsx "$NS_X" ip -6 addr add $XL_S6/64 dev xs4 nodad
  nsx "$NS_X" sysctl -qw net.ipv6.conf.all.forwarding=1
  nsx "$NS_S" ip -6 addr add $S6_ADDR/64 dev s4x nodad
  nsx "$NS_S" ip -6 route add $C6_NET via $XL_S6
  start_iperf_server
  set_variant kernel $S6_ADDR
  log "kernel IPv6 forwarding: c6 $C6_ADDR -> xl -> s4 $S6_ADDR"
}

cmd_run_bridge() {
  cmd_up "$OFFLOAD"
  nsx "$NS_X" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsx "$NS_X" ip link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  nsx "$NS_X" ip link set xc6 master br0
  nsx "$NS_X" ip link set xs4 master br0
  nsx "$NS_X" ip link set br0 up
  nsx "$NS_C" ip -6 addr add $L2_C/64 dev c6x nodad
  nsx "$NS_S" ip -6 addr add $L2_S/64 dev s4x nodad
  start_iperf_server
  set_variant bridge $L2_S
  log "linux bridge: c6 $L2_C == br0 == s4 $L2_S"
}

# The middle box's own stack must stay silent on both wires: the frame
# copiers and nat64br answer (or pass) everything themselves.
silence_middle() {
  nsx "$NS_X" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.xc6.disable_ipv6=1 net.ipv6.conf.xs4.disable_ipv6=1 \
    net.ipv6.conf.all.forwarding=0 net.ipv4.ip_forward=0
}

cmd_run_gofwd() {
  local mode=${1:-single}
  [ -x "$STATE/bin/gofwd" ] || cmd_build
  start_copier "gofwd-$mode" "AF_PACKET copy" "$STATE/bin/gofwd" -a xc6 -b xs4 -mode "$mode"
}

# start_copier VARIANT WHAT CMD...: a frame copier between xc6 and xs4 on one
# L2 segment (c6 $L2_C, s4 $L2_S), its output in $STATE/VARIANT.log.
start_copier() {
  local variant=$1 what=$2; shift 2
  cmd_up "$OFFLOAD"
  silence_middle
  nsx "$NS_C" ip -6 addr add $L2_C/64 dev c6x nodad
  nsx "$NS_S" ip -6 addr add $L2_S/64 dev s4x nodad
  ip netns exec "$NS_X" "$@" >"$STATE/$variant.log" 2>&1 &
  local pid=$!
  sleep 0.5
  kill -0 $pid 2>/dev/null || { cat "$STATE/$variant.log" >&2; die "$variant did not start"; }
  start_iperf_server
  set_variant "$variant" $L2_S $pid
  log "$variant (pid $pid): c6 $L2_C == $what == s4 $L2_S"
}

cmd_run_cfloor() {
  local spin=${1:-}
  local cc; cc="$(command -v cc || command -v gcc)" || die "cfloor needs a C compiler (apt-get install gcc)"
  mkdir -p "$STATE/bin"
  "$cc" -O2 -Wall -o "$STATE/bin/cfloor" "$HERE/cfloor/cfloor.c"
  start_copier "cfloor${spin:+-$spin}" "poll, recvfrom, send" "$STATE/bin/cfloor" xc6 xs4 $spin
}

cmd_run_tayga() {
  local mode=${1:-masq}
  cmd_up "$OFFLOAD"
  mkdir -p "$STATE/tayga"
  {
    echo "tun-device nat64"
    echo "ipv4-addr $TAYGA_V4"
    echo "prefix $PREFIX"
    echo "data-dir $STATE/tayga"
    if [ "$mode" = masq ]; then echo "dynamic-pool $POOL"; else echo "map $MAP_V4 $C6_ADDR"; fi
  } > "$STATE/tayga.conf"
  rm -f "$STATE/tayga/dynamic.map"
  nsx "$NS_X" tayga -c "$STATE/tayga.conf" --mktun >/dev/null
  nsx "$NS_X" ip link set nat64 up
  nsx "$NS_X" ip addr add $XL_S4/32 dev nat64        # router's own addresses on the TUN,
  nsx "$NS_X" ip -6 addr add $XL_C6/128 dev nat64 nodad  # as TAYGA's README suggests
  nsx "$NS_X" ip route add $POOL dev nat64
  nsx "$NS_X" ip -6 route add $PREFIX dev nat64
  nsx "$NS_X" ip -6 addr add $XL_C6/64 dev xc6 nodad
  nsx "$NS_X" ip addr add $XL_S4/24 dev xs4
  nsx "$NS_X" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
  if [ "$mode" = masq ]; then
    nsx "$NS_X" nft -f - <<EOF
table ip nat64lab {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "xs4" ip saddr $POOL masquerade
  }
}
EOF
  fi
  nsx "$NS_C" ip -6 addr add $C6_ADDR/64 dev c6x nodad
  nsx "$NS_C" ip -6 route add $PREFIX via $XL_C6
  nsx "$NS_S" ip addr add $S4_ADDR/24 dev s4x
  [ "$mode" = masq ] || nsx "$NS_S" ip route add $POOL via $XL_S4
  ip netns exec "$NS_X" tayga -c "$STATE/tayga.conf" --nodetach >"$STATE/tayga.log" 2>&1 &
  local pid=$!
  sleep 0.5
  kill -0 $pid 2>/dev/null || { cat "$STATE/tayga.log" >&2; die "tayga did not start"; }
  start_iperf_server
  local v=tayga; [ "$mode" = masq ] || v=tayga-1to1
  set_variant $v $NAT64_TARGET $pid
  log "tayga ($mode, pid $pid): c6 $C6_ADDR -> $NAT64_TARGET -> s4 $S4_ADDR"
}

# nat64br in the wire between xc6 and xs4, with nothing configured in xl's
# kernel: the client reaches the server as 2001:db8:64::192.0.2.2, on-link
# (nat64br answers Neighbor Solicitations for the prefix).
cmd_run_nat64br() {
  local mode=${1:-siit} v6if=xc6 v4if=xs4 variant=nat64br-${1:-siit}
  [ -x "$STATE/bin/nat64br" ] || cmd_build
  cmd_up "$OFFLOAD"
  silence_middle
  if [ "${mode#1arm-}" != "$mode" ]; then
    # One-armed: a bridge joins the client's and the server's wires and
    # nat64br's one port, as a LAN switch would.
    mode=${mode#1arm-} v6if=arm0 v4if=arm0
    nsx "$NS_X" ip link add xarm type veth peer name arm0
    nsx "$NS_X" sysctl -qw net.ipv6.conf.arm0.disable_ipv6=1 net.ipv6.conf.xarm.disable_ipv6=1
    nsx "$NS_X" ip link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    for dev in xc6 xs4 xarm; do nsx "$NS_X" ip link set "$dev" master br0; done
    for dev in xarm arm0 br0; do nsx "$NS_X" ip link set "$dev" up; done
    set_offloads "$OFFLOAD"
  fi
  {
    echo "mode: $mode"
    echo "prefix: $PREFIX"
    if [ "$mode" = nat64 ]; then echo "pool4: [$XL_S4/32]"; else echo "eam: [{ipv4: 192.0.2.6, ipv6: \"$C6_ADDR\"}]"; fi
    echo "ipv4-addr: $XL_S4"
    echo "ipv6-addr: \"$XL_C6\""
    echo "ipv6-interface: $v6if"
    echo "ipv4-interface: $v4if"
    echo "ipv4-subnet: 192.0.2.0/24"
    echo "ipv6-subnets: [\"$C6_NET\"]"
    echo "${NAT64BR_EXTRA:-}"
  } > "$STATE/nat64br.yaml"
  nsx "$NS_C" ip -6 addr add $C6_ADDR/64 dev c6x nodad
  nsx "$NS_C" ip -6 route add $PREFIX dev c6x
  nsx "$NS_S" ip addr add $S4_ADDR/24 dev s4x
  local prof=()
  [ -z "${PROFILE_DIR:-}" ] || prof=(--cpuprofile "$PROFILE_DIR/nat64br-$mode.$OFFLOAD.pprof")
  ip netns exec "$NS_X" "$STATE/bin/nat64br" run --config "$STATE/nat64br.yaml" "${prof[@]}" >"$STATE/nat64br.log" 2>&1 &
  local pid=$!
  local i
  for i in $(seq 50); do grep -q "nat64br running" "$STATE/nat64br.log" 2>/dev/null && break; sleep 0.1; done
  kill -0 $pid 2>/dev/null || { cat "$STATE/nat64br.log" >&2; die "nat64br did not start"; }
  start_iperf_server
  set_variant "$variant" $NAT64_TARGET $pid
  log "$variant (pid $pid, ports $v6if/$v4if): c6 $C6_ADDR -> $NAT64_TARGET -> s4 $S4_ADDR"
}

run_variant() { # variant name as in ALL_VARIANTS
  case "$1" in
    tayga) cmd_run_tayga masq ;;
    tayga-1to1) cmd_run_tayga 1to1 ;;
    kernel) cmd_run_kernel ;;
    bridge) cmd_run_bridge ;;
    gofwd-*) cmd_run_gofwd "${1#gofwd-}" ;;
    cfloor) cmd_run_cfloor ;;
    cfloor-spin) cmd_run_cfloor spin ;;
    nat64br-*) cmd_run_nat64br "${1#nat64br-}" ;;
    *) die "unknown variant $1" ;;
  esac
}

# ------------------------------------------------------------------ metrics

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
now() { date +%s.%N; }
# cpu_snap: "total idle+iowait softirq steal" of the whole machine, in ticks.
cpu_snap() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t, $5+$6, $8, $9}' /proc/stat; }
proc_ticks() { # utime+stime of a whole process (all threads)
  if [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ]; then
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12+$13}'
  else echo 0; fi
}

# window_start / window_end bracket a test; window_end prints
# "translator_cpu_pct_of_one_core system_busy_pct softirq_pct"
window_start() { W_T0=$(now); W_P0=$(proc_ticks "$XPID"); read -r W_C0 W_I0 W_S0 _ < <(cpu_snap); }
window_end() {
  local t1 p1 c1 i1 s1
  t1=$(now); p1=$(proc_ticks "$XPID"); read -r c1 i1 s1 _ < <(cpu_snap)
  awk -v t0="$W_T0" -v t1="$t1" -v p0="$W_P0" -v p1="$p1" -v hz="$CLK_TCK" -v x="$XPID" \
      -v c0="$W_C0" -v c1="$c1" -v i0="$W_I0" -v i1="$i1" -v s0="$W_S0" -v s1="$s1" 'BEGIN{
    xc = (x == "") ? "n/a" : sprintf("%.0f", 100*(p1-p0)/hz/(t1-t0));
    dc = c1-c0; if (dc <= 0) dc = 1;
    printf "%s %.0f %.0f\n", xc, 100*(dc-(i1-i0))/dc, 100*(s1-s0)/dc }'
}

emit() { printf '%s\t%s\t%s\t%s\t%s\n' "$OFFLOAD_NOW" "$VARIANT" "$REP" "$1" "$2" >> "$PENDING"; }

# --- guarding against foreign load -------------------------------------------
# This machine may be shared: every test waits until the machine is quiet
# (>= QUIET_IDLE % idle over 1 s), counts the processes forked during the test
# (ours are a handful) and checks that the machine is quiet again right after.
# A test that overlapped foreign activity is re-run (RETRIES), and a sample
# that stays dirty is flagged in raw.tsv (<test>_dirty = 1). In a VM the host
# can take the CPUs away during a test, which the guest sees only as steal
# time: a test with more than STEAL_MAX % of the machine's time stolen is
# re-run too (<test>_steal in raw.tsv).
forks() { local k v; while read -r k v _; do [ "$k" = processes ] && { echo "$v"; return; }; done < /proc/stat; }
snap_pct() { # snap_pct A B I: % of the machine's time between cpu_snaps A and B in their field I
  echo "$1 $2" | awk -v i="$3" '{dt = $5 - $1; printf "%d", (dt > 0) ? 100 * ($(4 + i) - $i) / dt : 0}'
}
idle_pct() { # idle % of the whole machine over $1 seconds
  local a b; a=$(cpu_snap); sleep "$1"; b=$(cpu_snap)
  snap_pct "$a" "$b" 2
}
quiet_gate() {
  local waited=0 idle
  while :; do
    idle=$(idle_pct 1)
    [ "$idle" -ge "$QUIET_IDLE" ] && return 0
    if [ "$waited" -ge "$QUIET_MAX" ]; then log "still busy (idle $idle%) after ${waited}s: measuring anyway"; return 0; fi
    [ $((waited % 60)) -eq 0 ] && log "machine busy (idle $idle% < $QUIET_IDLE%), not ours: waiting"
    sleep 4; waited=$((waited + 5))
  done
}
guarded() { # guarded NAME FUNCTION ARGS...: run a test, retry it if foreign load overlapped
  local name=$1 try f0 f1 c0 c1 steal idle dirty=1; shift
  for try in $(seq "$RETRIES"); do
    quiet_gate
    : > "$PENDING"
    f0=$(forks); c0=$(cpu_snap)
    "$@"
    f1=$(forks); c1=$(cpu_snap)
    steal=$(snap_pct "$c0" "$c1" 4)
    sleep 2                       # let our own iperf3 server drain
    idle=$(idle_pct 1)
    dirty=0
    { [ $((f1 - f0)) -gt "$FORK_MAX" ] || [ "$idle" -lt "$QUIET_IDLE" ] || [ "$steal" -gt "$STEAL_MAX" ]; } && dirty=1
    [ "$dirty" = 0 ] && break
    log "$VARIANT $name: foreign activity (forks $((f1 - f0)), idle after $idle%, stolen $steal%), try $try/$RETRIES"
  done
  emit "${name}_dirty" "$dirty"
  emit "${name}_forks" "$((f1 - f0))"
  emit "${name}_steal" "$steal"
  cat "$PENDING" >> "$TSV"
}

wait_reachable() {
  local i
  for i in $(seq 30); do
    nsx "$NS_C" ping -c 1 -W 1 "$TARGET" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

t_tcp() { # streams
  local p=$1 j="$OUTDIR/${VARIANT}.${OFFLOAD_NOW}.r$REP.tcp$1.json" cpu
  window_start
  timeout $((DUR + 30)) ip netns exec "$NS_C" iperf3 -c "$TARGET" -t "$DUR" -P "$p" -J --connect-timeout 3000 >"$j" 2>&1 || true
  cpu=$(window_end)
  emit tcp${p}_gbps "$(jq -r '(.end.sum_received.bits_per_second // empty) / 1e9 | . * 1000 | round / 1000' "$j" 2>/dev/null || echo FAIL)"
  emit tcp${p}_retr "$(jq -r '.end.sum_sent.retransmits // "FAIL"' "$j" 2>/dev/null || echo FAIL)"
  set -- $cpu; emit tcp${p}_xcpu "$1"; emit tcp${p}_sys "$2"; emit tcp${p}_softirq "$3"
}

# UDP datagrams that reached s4 but were dropped because the iperf3 server's
# socket buffer was full (the server shares the 2 cores with everything else).
udp_rcvbuf() {
  nsx "$NS_S" cat /proc/net/snmp /proc/net/snmp6 | awk '
    $1 == "Udp:" && !h { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next }
    $1 == "Udp:" && h { s += $c }
    $1 == "Udp6RcvbufErrors" { s += $2 }
    END { print s + 0 }'
}

t_udp() { # 64-byte payload, unlimited offered rate
  local j="$OUTDIR/${VARIANT}.${OFFLOAD_NOW}.r$REP.udp64.json" cpu r0 r1
  r0=$(udp_rcvbuf)
  window_start
  timeout $((DUR + 30)) ip netns exec "$NS_C" iperf3 -c "$TARGET" -u -b 0 -l 64 -t "$DUR" -J --connect-timeout 3000 >"$j" 2>&1 || true
  cpu=$(window_end)
  r1=$(udp_rcvbuf)
  # forwarded = delivered to the application + dropped at s4's socket (it crossed the middle box)
  emit udp_fwd_kpps "$(jq -r --argjson d $((r1 - r0)) '.end.sum_received | ((.packets - .lost_packets + $d) / .seconds / 1000) | . * 10 | round / 10' "$j" 2>/dev/null || echo FAIL)"
  emit udp_tx_kpps "$(jq -r '.end.sum_sent | (.packets / .seconds / 1000) | . * 10 | round / 10' "$j" 2>/dev/null || echo FAIL)"
  emit udp_rx_kpps "$(jq -r '.end.sum_received | ((.packets - .lost_packets) / .seconds / 1000) | . * 10 | round / 10' "$j" 2>/dev/null || echo FAIL)"
  emit udp_loss_pct "$(jq -r '.end.sum_received.lost_percent | . * 10 | round / 10' "$j" 2>/dev/null || echo FAIL)"
  set -- $cpu; emit udp_xcpu "$1"; emit udp_sys "$2"; emit udp_softirq "$3"
}

t_ping() {
  local j="$OUTDIR/${VARIANT}.${OFFLOAD_NOW}.r$REP.ping.txt" rtts n
  nsx "$NS_C" ping -c "$PING_N" -i "$PING_I" -W 1 "$TARGET" >"$j" 2>&1 || true
  rtts=$(grep -o 'time=[0-9.]*' "$j" | cut -d= -f2 | sort -g)
  n=$(printf '%s\n' "$rtts" | grep -c . || true)
  if [ "$n" -gt 0 ]; then
    emit ping_med_us "$(printf '%s\n' "$rtts" | awk -v n="$n" 'NR==int((n+1)/2){a=$1} NR==int(n/2)+1{b=$1} END{printf "%.0f", (a+b)/2*1000}')"
    emit ping_min_us "$(printf '%s\n' "$rtts" | head -1 | awk '{printf "%.0f", $1*1000}')"
  else
    emit ping_med_us FAIL; emit ping_min_us FAIL
  fi
  emit ping_loss_pct "$(awk -v n="$n" -v N="$PING_N" 'BEGIN{printf "%.0f", 100*(N-n)/N}')"
}

measure_once() {
  OUTDIR=$1
  guarded tcp1 t_tcp 1
  guarded tcp4 t_tcp 4
  guarded udp t_udp
  guarded ping t_ping
}

cmd_measure() {
  local reps=${1:-$REPS}
  [ -f "$STATE/variant" ] || die "no variant configured (run-kernel, run-bridge, run-tayga, run-gofwd)"
  VARIANT=$(cat "$STATE/variant"); TARGET=$(cat "$STATE/target"); XPID=$(cat "$STATE/xpid")
  OFFLOAD_NOW=$(cat "$STATE/offload")
  local out=${OUT:-$HERE/results/adhoc}
  mkdir -p "$out"; TSV="$out/raw.tsv"; PENDING="$STATE/pending.tsv"
  wait_reachable || { log "$VARIANT: $TARGET unreachable"; }
  for REP in $(seq "${REP0:-1}" "$(( ${REP0:-1} + reps - 1 ))"); do
    log "measure $VARIANT (offloads $OFFLOAD_NOW) rep $REP"
    measure_once "$out"
  done
  if [ "${STOP_AFTER:-0}" = 1 ]; then
    # Where did frames get dropped? Counters cover all tests of this repetition.
    [ -n "$XPID" ] && { kill -TERM "$XPID" 2>/dev/null || true; sleep 0.5; }
    {
      echo "== $VARIANT offloads=$OFFLOAD_NOW rep=$REP"
      case "$VARIANT" in
        gofwd-*|cfloor*) cat "$STATE/$VARIANT.log" 2>/dev/null || true ;;
        tayga*) cat "$STATE/tayga.log" 2>/dev/null || true ;;
        nat64br-*) for _ in $(seq 30); do grep -q "final counters" "$STATE/nat64br.log" && break; sleep 0.1; done
                   grep -E "final counters|level=(WARN|ERROR)" "$STATE/nat64br.log" 2>/dev/null || true ;;
      esac
      for ns in $NS_X $NS_S; do
        nsx "$ns" ip -s -o link | awk -v ns="$ns" '$2 !~ /^lo/ {
          for (i = 1; i <= NF; i++) { if ($i == "RX:") r = i; if ($i == "TX:") t = i }
          printf "%s %s rx_packets=%s rx_dropped=%s tx_packets=%s tx_dropped=%s\n", ns, $2, $(r+9), $(r+11), $(t+9), $(t+11) }' || true
      done
      nsx "$NS_S" nstat -az 2>/dev/null | awk '$2 > 0 && $1 ~ /(RcvbufErrors|InCsumErrors|InErrors)$/ {printf "s4 %s=%s\n", $1, $2}' || true
    } >> "$out/translator.log"
  fi
}

cmd_bench() {
  need_root
  local variants="${*:-$BENCH_VARIANTS}" stamp out
  stamp=$(date +%Y%m%d-%H%M%S)
  out="$HERE/results/$stamp"; mkdir -p "$out"
  cmd_deps
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    echo "kernel: $(uname -r)"
    echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "tayga: $(dpkg-query -W -f '${Version}' tayga)"
    echo "iperf3: $(iperf3 --version | head -1)"
    echo "go: $("$(find_go)" version | awk '{print $3}')"
    echo "nat64br: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "DUR=$DUR REPS=$REPS PING_N=$PING_N PING_I=$PING_I QUIET_IDLE=$QUIET_IDLE FORK_MAX=$FORK_MAX STEAL_MAX=$STEAL_MAX RETRIES=$RETRIES"
    echo "variants(off): $variants"
    echo "variants(on): $ON_VARIANTS"
  } > "$out/machine.txt"
  # Repetitions are the outer loop so that drift hits every variant alike.
  for rep in $(seq "$REPS"); do
    for OFFLOAD in off on; do
      local list=$variants
      [ "$OFFLOAD" = on ] && list=$ON_VARIANTS
      [ "$list" = none ] && continue
      for v in $list; do
        PROFILE_DIR="$out" run_variant "$v"
        OUT="$out" REP0=$rep STOP_AFTER=1 cmd_measure 1 || log "measure failed for $v"
        cmd_down quiet
      done
    done
  done
  OFFLOAD=off
  cmd_report "$out" | tee "$out/report.md"
}

# ------------------------------------------------------------------ report

cmd_report() {
  local dir=${1:-}
  [ -n "$dir" ] || dir=$(ls -d "$HERE"/results/*/ | sort | tail -1)
  awk -F'\t' -v order="$ALL_VARIANTS" -v cref="$COPY_REF" '
  function med(key,   n, i, j, t, a, s) {
    n = split(vals[key], a, " "); s = 0
    for (i = 1; i <= n; i++) if (a[i] ~ /^-?[0-9.]+$/) { s++; b[s] = a[i] + 0 }
    if (s == 0) return (n == 0 ? "" : (a[1] == "n/a" ? "n/a" : "fail"))
    for (i = 2; i <= s; i++) { t = b[i]; for (j = i - 1; j >= 1 && b[j] > t; j--) b[j+1] = b[j]; b[j+1] = t }
    return (s % 2) ? b[(s+1)/2] : (b[s/2] + b[s/2+1]) / 2
  }
  function num(v) { return v != "" && v != "fail" && v != "n/a" }
  function fmt(v, d) { return num(v) ? sprintf("%." d "f", v) : (v == "" ? "–" : v) }
  function ratio(v, r) { return (num(v) && num(r) && r != 0) ? sprintf("%.2f", v / r) : "–" }
  function nspp(cpu, kpps) { return (num(cpu) && num(kpps) && kpps > 0) ? sprintf("%.0f", cpu * 10000 / kpps) : "–" }
  { vals[$1 SUBSEP $2 SUBSEP $4] = vals[$1 SUBSEP $2 SUBSEP $4] " " $5; seen[$1 SUBSEP $2] = 1; offs[$1] = 1
    if ($4 ~ /_dirty$/) { tests[$1]++; if ($5 == 1) { dirty[$1]++; dl[$1] = dl[$1] " " $2 "/" $4 "/r" $3 } }
    if ($4 ~ /_steal$/ && $5 + 0 > steal[$1]) steal[$1] = $5 + 0 }
  END {
    nv = split(order, vo, " ")
    for (oi = 1; oi <= 2; oi++) {
      o = (oi == 1) ? "off" : "on"
      if (!(o in offs)) continue
      printf "\n#### veth offloads %s (median of the repetitions; ×copy: ÷ %s)\n\n", o, cref
      print "| variant | TCP 1 stream Gbit/s | ×TAYGA | ×copy | TCP 4 streams Gbit/s | ×TAYGA | ×copy | UDP 64 B delivered kpps | ×TAYGA | UDP forwarded kpps | ×TAYGA | ×copy | UDP loss % | ping median µs | ×TAYGA | ×copy | translator CPU % (1 core) TCP1 / TCP4 / UDP | translator CPU ns per forwarded UDP packet | machine busy % TCP1 / TCP4 / UDP |"
      print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
      for (vi = 1; vi <= nv; vi++) {
        v = vo[vi]; if (!((o SUBSEP v) in seen)) continue
        k = o SUBSEP v SUBSEP; t = o SUBSEP "tayga" SUBSEP; c = o SUBSEP cref SUBSEP
        t1 = med(k "tcp1_gbps"); t4 = med(k "tcp4_gbps"); u = med(k "udp_rx_kpps"); p = med(k "ping_med_us")
        f = med(k "udp_fwd_kpps")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s / %s / %s |\n", v,
          fmt(t1, 2), ratio(t1, med(t "tcp1_gbps")), ratio(t1, med(c "tcp1_gbps")),
          fmt(t4, 2), ratio(t4, med(t "tcp4_gbps")), ratio(t4, med(c "tcp4_gbps")),
          fmt(u, 0), ratio(u, med(t "udp_rx_kpps")),
          fmt(f, 0), ratio(f, med(t "udp_fwd_kpps")), ratio(f, med(c "udp_fwd_kpps")),
          fmt(med(k "udp_loss_pct"), 1),
          fmt(p, 0), ratio(p, med(t "ping_med_us")), ratio(p, med(c "ping_med_us")),
          fmt(med(k "tcp1_xcpu"), 0), fmt(med(k "tcp4_xcpu"), 0), fmt(med(k "udp_xcpu"), 0),
          nspp(med(k "udp_xcpu"), f),
          fmt(med(k "tcp1_sys"), 0), fmt(med(k "tcp4_sys"), 0), fmt(med(k "udp_sys"), 0)
      }
      printf "\nSamples disturbed by foreign load even after retries: %d of %d%s; most time stolen by the host in one test: %d %%\n", dirty[o], tests[o], dl[o] ? " (" substr(dl[o], 2) ")" : "", steal[o]
    }
  }' "$dir/raw.tsv"
}

# ------------------------------------------------------------------ main

cmd=${1:-}; shift || true
case "$cmd" in
  deps) cmd_deps ;;
  build) cmd_build ;;
  up) cmd_up "${1:-$OFFLOAD}" ;;
  down) cmd_down ;;
  run-kernel) cmd_run_kernel ;;
  run-bridge) cmd_run_bridge ;;
  run-tayga) cmd_run_tayga "${1:-masq}" ;;
  run-gofwd) cmd_run_gofwd "${1:-single}" ;;
  run-cfloor) cmd_run_cfloor "${1:-}" ;;
  run-nat64br) cmd_run_nat64br "${1:-siit}" ;;
  measure) cmd_measure "${1:-$REPS}" ;;
  bench) cmd_bench "$@" ;;
  report) cmd_report "${1:-}" ;;
  *) sed -n '2,47p' "$0"; exit 2 ;;
esac
