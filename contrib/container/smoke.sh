#!/usr/bin/env bash
# contrib/container/smoke.sh: build the container image (make image) and ping
# through it, wired the way containerlab wires contrib/containerlab/: the
# container starts with no interfaces of its own (--network none), then two
# veth ends are moved into it as eth1 and eth2, with the containerlab
# topology's configuration and addresses. Needs root and a running Docker
# daemon; everything it makes is removed on exit. Not run by CI (no container
# runtime there).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
IMAGE="${IMAGE:-nat64br-smoke}"
S="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
C6="n64c6-$S" S4="n64s4-$S" NAME="nat64br-smoke-$S"

die() { echo "smoke: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, moving links into the container)"
docker info >/dev/null 2>&1 || die "needs a running Docker daemon"

cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  ip netns del "$C6" 2>/dev/null || true
  ip netns del "$S4" 2>/dev/null || true
}
trap cleanup EXIT

# Without the buildx plugin a recent docker CLI refuses BuildKit; the
# one-stage Dockerfile.prebuilt builds as well with the classic builder.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
make -C "$REPO" image IMAGE="$IMAGE" >/dev/null

ip netns add "$C6"; ip netns add "$S4"
ip link add "c6-$S" netns "$C6" type veth peer name "x6-$S"
ip link add "s4-$S" netns "$S4" type veth peer name "x4-$S"

docker run -d --name "$NAME" --network none --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN \
  -v "$REPO/contrib/containerlab/nat64br.yaml:/etc/nat64br/nat64br.yaml:ro" "$IMAGE" >/dev/null
pid=$(docker inspect -f '{{.State.Pid}}' "$NAME")
[ "$pid" != 0 ] || { docker logs "$NAME" >&2; die "the container is not running"; }
sleep 1   # the links come after the start, as with containerlab
ip link set "x6-$S" netns "/proc/$pid/ns/net"
ip link set "x4-$S" netns "/proc/$pid/ns/net"
nsenter -t "$pid" -n ip link set "x6-$S" name eth1
nsenter -t "$pid" -n ip link set "x4-$S" name eth2
nsenter -t "$pid" -n ip link set eth1 up
nsenter -t "$pid" -n ip link set eth2 up

ip -n "$C6" link set lo up; ip -n "$C6" link set "c6-$S" up
ip -n "$C6" -6 addr add 2001:db8:6::2/64 dev "c6-$S" nodad
ip -n "$C6" -6 route add 64:ff9b::/96 dev "c6-$S"
ip -n "$S4" link set lo up; ip -n "$S4" link set "s4-$S" up
ip -n "$S4" addr add 192.0.2.2/24 dev "s4-$S"

for _ in $(seq 50); do docker logs "$NAME" 2>&1 | grep -q "nat64br running" && break; sleep 0.2; done
docker logs "$NAME" 2>&1 | grep -q "nat64br running" || { docker logs "$NAME" >&2; die "nat64br did not start in the container"; }

out=$(ip netns exec "$C6" ping -c 5 -i 0.2 -W 2 64:ff9b::c000:202 2>&1) || { echo "$out" >&2; docker logs "$NAME" >&2; die "no replies through the container"; }
echo "$out" | tail -2
st=$(docker exec "$NAME" nat64br status) || die "nat64br status failed in the container"
echo "$st" | head -5
echo "smoke: ok: an IPv6-only client pinged 192.0.2.2 through nat64br in a container that had no interfaces when it started"
