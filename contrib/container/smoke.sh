#!/usr/bin/env bash
# contrib/container/smoke.sh: build the container image (make image) and run
# traffic through it, wired the way containerlab wires contrib/containerlab/:
# the container starts with no interfaces of its own (--network none), then
# two veth pairs get one end each inside it, as eth1 (IPv6 side) and eth2
# (IPv4 side); the other ends are an IPv6-only client and an IPv4-only
# server, each in a network namespace of its own. nat64br runs as in
# docs/deployment.md ("Container"): uid 65532, CAP_NET_RAW and CAP_NET_ADMIN
# only, read-only root, tmpfs /run, a volume on /var/lib/nat64br,
# contrib/container/smoke.yaml mounted as its configuration (stateful NAT64).
#
# Checks: a ping and a 10 MB HTTP download (size and SHA-256) from the client
# through nat64br; nat64br status and sessions through the control socket;
# podman stop ends it with exit status 0, the log says it stopped, and the
# NAT64 state file landed in the volume, owned by 65532.
#
# Needs root, podman (preferred) or a running Docker daemon, iproute2, ping,
# curl and python3 (its http.server on the IPv4 side). Every step is bounded
# in time; everything it makes is removed on exit. It skips (exit 0, "smoke:
# SKIP: ...") when not root or when no container runtime can run here, and
# fails (exit 1) on anything else. .ci/run runs it. CONTAINER=docker picks
# the runtime, IMAGE names the image, IMAGE_KEEP=1 keeps it afterwards.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
S="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
IMAGE="${IMAGE:-localhost/nat64br-smoke-$S}"
C6="n64c6-$S" S4="n64s4-$S" NAME="nat64br-smoke-$S" VOL="nat64br-smoke-$S"
TMP=
DST=2001:db8:64::c633:6402   # 198.51.100.2 in 2001:db8:64::/96
T0=$SECONDS

say() { echo "smoke: [$((SECONDS - T0))s] $*"; }
die() { echo "smoke: FAIL: $*" >&2; exit 1; }
skip() { echo "smoke: SKIP: $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, links into the container)"
if [ -n "${CONTAINER:-}" ]; then RT=$CONTAINER
elif command -v podman >/dev/null 2>&1; then RT=podman
elif command -v docker >/dev/null 2>&1; then RT=docker
else skip "neither podman nor docker is installed"; fi
for t in ip ping curl python3 nsenter timeout sha256sum; do
  command -v "$t" >/dev/null 2>&1 || die "needs $t"
done
timeout 30 "$RT" info >/dev/null 2>&1 || skip "$RT info fails: no usable container runtime here ($(timeout 30 "$RT" info 2>&1 | tail -1))"

logs() { timeout 20 "$RT" logs "$NAME" 2>&1 || true; }
cleanup() {
  set +e
  if [ "${ok:-0}" != 1 ] && [ -n "${started:-}" ]; then echo "smoke: the container's log:" >&2; logs | tail -40 >&2; fi
  [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null
  timeout 30 "$RT" rm -f "$NAME" >/dev/null 2>&1
  timeout 30 "$RT" volume rm -f "$VOL" >/dev/null 2>&1
  [ -z "${keep_image:-}" ] && timeout 30 "$RT" rmi -f "$IMAGE" >/dev/null 2>&1
  ip netns del "$C6" 2>/dev/null
  ip netns del "$S4" 2>/dev/null
  [ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
TMP="$(mktemp -d /tmp/nat64br-smoke.XXXXXX)"

# 1. The image, from the binary of make build (no network inside the build).
[ -n "${IMAGE_KEEP:-}" ] && keep_image=1
if [ "$RT" = docker ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0   # a recent docker CLI refuses BuildKit without buildx
fi
imageflags=; [ "$RT" = podman ] && imageflags=--layers=false   # no intermediate images left behind
timeout 300 make -s -C "$REPO" image IMAGE="$IMAGE" CONTAINER="$RT" IMAGEFLAGS="$imageflags" >"$TMP/build.log" 2>&1 ||
  { tail -20 "$TMP/build.log" >&2; die "make image failed"; }
want_version=$(timeout 20 make -s -C "$REPO" --no-print-directory --eval 'smoke-version: ; @echo $(VERSION)' smoke-version)
lic=$(timeout 20 "$RT" image inspect -f '{{index .Config.Labels "org.opencontainers.image.licenses"}} {{index .Config.Labels "org.opencontainers.image.version"}} {{.Config.User}}' "$IMAGE") ||
  die "cannot inspect $IMAGE"
[ "$lic" = "Apache-2.0 ${want_version:-?} 65532:65532" ] || die "labels and user: got '$lic', want 'Apache-2.0 ${want_version:-?} 65532:65532'"
say "image $IMAGE built (labels: licenses Apache-2.0, version $want_version; user 65532)"

# 2. Options of the run. Docker gives a non-root user no capabilities
# (no ambient set, moby#50083), so there nat64br runs as uid 0, still with
# only the two capabilities. podman's default rlimits (nofile 1048576) can be
# above what a sandboxed runtime may set (CI's machine): ask for less. crun
# refuses hybrid cgroup hierarchies (v1 controllers and one on cgroup2, as on
# CI's machine): runc, if installed, does not.
sec=(--cap-drop=all --cap-add=NET_RAW,NET_ADMIN)
want_uid=65532
if [ "$RT" = docker ]; then
  sec+=(--user 0); want_uid=0
else
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then nofile=65536; fi
  sec+=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
fi
rtflags=()
if ! out=$(timeout 60 "$RT" run --rm --network none "${sec[@]}" "$IMAGE" version 2>&1); then
  if [ "$RT" = podman ] && command -v runc >/dev/null 2>&1 &&
    timeout 60 podman --runtime runc run --rm --network none "${sec[@]}" "$IMAGE" version >/dev/null 2>&1; then
    rtflags=(--runtime runc)
    say "podman's default OCI runtime cannot start a container here ($(echo "$out" | tail -1)); using runc"
  else
    skip "$RT cannot start a container here: $(echo "$out" | tail -1)"
  fi
fi

# 3. Start it with no interfaces, then wire it.
timeout 60 "$RT" "${rtflags[@]}" run -d --name "$NAME" --network none "${sec[@]}" \
  --read-only --tmpfs /run -v "$VOL:/var/lib/nat64br" \
  -v "$HERE/smoke.yaml:/etc/nat64br/nat64br.yaml:ro" \
  --sysctl net.ipv6.conf.default.disable_ipv6=1 \
  "$IMAGE" >/dev/null || die "$RT run failed"
started=1
pid=$(timeout 20 "$RT" inspect -f '{{.State.Pid}}' "$NAME")
[ -n "$pid" ] && [ "$pid" != 0 ] || die "the container is not running"
ip netns add "$C6"; ip netns add "$S4"
# As an operator moves a NIC in: ip link set IF netns PID, then its name.
ip link add "x6-$S" type veth peer name c6 netns "$C6"
ip link add "x4-$S" type veth peer name s4 netns "$S4"
ip link set "x6-$S" netns "$pid"
ip link set "x4-$S" netns "$pid"
nsenter -t "$pid" -n ip link set "x6-$S" name eth1 up
nsenter -t "$pid" -n ip link set "x4-$S" name eth2 up
for i in eth1 eth2; do
  [ "$(nsenter -t "$pid" -n cat /proc/sys/net/ipv6/conf/$i/disable_ipv6)" = 1 ] || die "the container's kernel has IPv6 on $i"
done
ip -n "$C6" link set lo up; ip -n "$C6" link set c6 up
ip -n "$C6" -6 addr add 2001:db8:6::2/64 dev c6 nodad
ip -n "$C6" -6 route add 2001:db8:64::/96 via 2001:db8:6::1 dev c6
ip -n "$S4" link set lo up; ip -n "$S4" link set s4 up
ip -n "$S4" addr add 198.51.100.2/24 dev s4

for _ in $(seq 100); do logs | grep -q "nat64br running" && break; sleep 0.1; done
logs | grep -q "nat64br running" || die "nat64br did not start in the container within 10 s"
! logs | grep -q "the kernel is also on this port" || die "nat64br says the container's kernel is on its ports"
read -r uid _ < <(awk '/^Uid:/{print $2, $3}' "/proc/$pid/status")
caps=$(awk '/^CapEff:/{print $2}' "/proc/$pid/status")
nnp=$(awk '/^NoNewPrivs:/{print $2}' "/proc/$pid/status")
[ "$uid" = "$want_uid" ] || die "nat64br runs as uid $uid, want $want_uid"
# Started with NET_ADMIN and NET_RAW, it keeps NET_RAW alone once its
# ports are open (sandbox), with no_new_privs and its system call filter.
[ "$caps" = 0000000000002000 ] || die "nat64br's effective capabilities are $caps, want 0000000000002000 (NET_RAW, after the sandbox)"
[ "$nnp" = 1 ] || die "nat64br's NoNewPrivs is $nnp, want 1"
logs | grep -q 'msg="sandbox applied".*seccomp=2' || die "nat64br did not log its sandbox with its system call filter"
say "running as uid $uid with CAP_NET_RAW only after the start (NET_ADMIN dropped), no_new_privs, seccomp, read-only root; eth1 and eth2 moved in after the start"

# 4. Traffic: a ping, then 10 MB over HTTP.
out=$(ip netns exec "$C6" timeout 20 ping -6 -c 3 -i 0.2 -W 3 "$DST" 2>&1) || { echo "$out" >&2; die "no ping replies through the container"; }
say "ping $DST (198.51.100.2): $(echo "$out" | grep -o '[0-9]* received')"
mkdir "$TMP/www"
head -c 10485760 /dev/urandom >"$TMP/www/blob"
want=$(sha256sum "$TMP/www/blob" | cut -d' ' -f1)
ip netns exec "$S4" timeout 100 python3 -m http.server 8080 --bind 198.51.100.2 --directory "$TMP/www" >"$TMP/http.log" 2>&1 &
srv=$!
for _ in $(seq 50); do ip netns exec "$S4" ss -Htln 'sport = :8080' | grep -q . && break; sleep 0.1; done
t=$SECONDS
ip netns exec "$C6" curl -g -sS --max-time 60 -o "$TMP/got" "http://[$DST]:8080/blob" || die "the download through the container failed"
size=$(stat -c %s "$TMP/got"); got=$(sha256sum "$TMP/got" | cut -d' ' -f1)
[ "$size" = 10485760 ] && [ "$got" = "$want" ] || die "downloaded $size bytes, sha256 $got; want 10485760 bytes, $want"
say "HTTP 10 MB from 198.51.100.2 through the container: 10485760 bytes, sha256 matches ($((SECONDS - t)) s)"

# 5. The control socket, as the image's user.
st=$(timeout 20 "$RT" exec "$NAME" nat64br status) || die "nat64br status failed in the container"
se=$(timeout 20 "$RT" exec "$NAME" nat64br sessions) || die "nat64br sessions failed in the container"
echo "$se" | grep -q 198.51.100.2 || { echo "$se" >&2; die "nat64br sessions does not list the download"; }
say "nat64br status and sessions through /run/nat64br/nat64br.sock: $(echo "$st" | head -1)"

# 6. A clean stop.
timeout 60 "$RT" stop -t 20 "$NAME" >/dev/null || die "$RT stop failed"
code=$(timeout 20 "$RT" inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || die "nat64br exited with status $code"
logs | grep -q 'msg=stopping signal=terminated' || die "the log does not say nat64br stopped on SIGTERM"
logs | grep -q 'msg="NAT64 state saved"' || die "the log does not say the NAT64 state was saved"
mnt=$(timeout 20 "$RT" volume inspect -f '{{.Mountpoint}}' "$VOL")
owner=$(stat -c %u "$mnt/nat64.state" 2>/dev/null) || die "no nat64.state in the volume"
[ "$owner" = "$want_uid" ] || die "nat64.state is owned by $owner, want $want_uid"
say "$RT stop: exit status 0, the log says stopping (SIGTERM) and NAT64 state saved; nat64.state in the volume, owned by $owner"
ok=1
say "ok: an IPv6-only client pinged and downloaded 10 MB from an IPv4-only server through nat64br in a container ($RT${rtflags[*]:+ ${rtflags[*]}})"
