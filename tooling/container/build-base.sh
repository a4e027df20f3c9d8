#!/usr/bin/env bash
# Builds srmudp's local Node 20 base image and imports it into podman under a fixed name, for
# machines that cannot pull from an image registry (our CI). Debian bookworm `minbase` from
# debootstrap + ca-certificates + this machine's Node 20 binary and npm, laid out as in the
# official node image (/usr/local/bin/node, /usr/local/lib/node_modules/npm), so a Dockerfile
# written for node:20-bookworm-slim builds on it unchanged: `--build-arg BASE=<printed name>`.
#
# usage: build-base.sh [--force] [--print-name]
#   --force       rebuild even when an image built from the same inputs is present
#   --print-name  print the image name and exit
# environment:
#   SRMUDP_BASE_IMAGE   image name (default localhost/srmudp/node-base:20-bookworm-minbase)
#   SRMUDP_BASE_NODE    the node binary to copy (default: `command -v node`, must be v20)
#   SRMUDP_BASE_NPM     npm's package folder (default: <node prefix>/lib/node_modules/npm)
#   DEBIAN_MIRROR       default http://deb.debian.org/debian
#
# Cached: the image carries a label with the hash of its inputs (this script, the node binary,
# npm's version, suite, mirror, architecture); when the label matches, nothing is rebuilt. The
# previous image is removed when a rebuild replaces it. Root only (debootstrap, chroot, podman).
# Last line on stdout: the image name.
set -euo pipefail

IMAGE="${SRMUDP_BASE_IMAGE:-localhost/srmudp/node-base:20-bookworm-minbase}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
LABEL=org.srmudp.base.inputs
# Certificate authorities this machine added locally (Debian's place for them). Here: the CA of
# the egress proxy that re-signs TLS to the npm registry. Copied into the base so builds on it
# reach the registry as the host does; the image is for this machine only, never to publish.
LOCAL_CA=/usr/local/share/ca-certificates
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print-name) echo "$IMAGE"; exit 0 ;;
    *) echo "build-base: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { echo "build-base: $*" >&2; }
die() { say "$*"; exit 1; }
# runc: Debian's crun fails here on cgroups (see README). Same flags as the tests use.
podman_() { podman --runtime runc "$@"; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and podman's root storage)"
for tool in podman debootstrap sha256sum tar; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y --no-install-recommends podman runc debootstrap)"
done

node_bin="$(readlink -f "${SRMUDP_BASE_NODE:-$(command -v node || true)}")"
[ -x "$node_bin" ] || die "no node binary (set SRMUDP_BASE_NODE)"
node_version="$("$node_bin" -p process.versions.node)"
[ "${node_version%%.*}" = 20 ] || die "$node_bin is Node $node_version; the base image must carry Node 20"
npm_dir="${SRMUDP_BASE_NPM:-$(dirname "$(dirname "$node_bin")")/lib/node_modules/npm}"
[ -f "$npm_dir/package.json" ] || die "npm not found at $npm_dir (set SRMUDP_BASE_NPM)"
npm_version="$("$node_bin" -p "require('$npm_dir/package.json').version")"
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"

inputs="$( {
  sha256sum <"$0"
  sha256sum <"$node_bin"
  echo "npm $npm_version suite $SUITE mirror $MIRROR arch $arch"
  find "$LOCAL_CA" -name '*.crt' -type f 2>/dev/null | sort | xargs -r cat
} | sha256sum | cut -c1-32)"

# One builder at a time per machine (parallel test runs share the image).
exec 9>/run/lock/srmudp-container-base.lock
flock -w 1800 9 || die "timed out waiting for another build-base run"

old_id=""
if podman_ image exists "$IMAGE"; then
  old_id="$(podman_ image inspect --format '{{.Id}}' "$IMAGE")"
  have="$(podman_ image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)"
  if [ "$force" = 0 ] && [ "$have" = "$inputs" ]; then
    say "cached: $IMAGE (inputs $inputs, Node $node_version)"
    echo "$IMAGE"
    exit 0
  fi
fi

t0=$(date +%s)
work="$(mktemp -d /var/tmp/srmudp-base.XXXXXX)"
trap 'rm -rf --one-file-system "$work"' EXIT
root="$work/rootfs"

say "debootstrap --variant=minbase $SUITE from $MIRROR (Node $node_version, npm $npm_version)"
debootstrap --variant=minbase --include=ca-certificates --arch="$arch" "$SUITE" "$root" "$MIRROR" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

extra_ca=0
if [ -n "$(find "$LOCAL_CA" -name '*.crt' -type f 2>/dev/null)" ]; then
  cp -a "$LOCAL_CA/." "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
  extra_ca=1
  say "added this machine's local CAs: $(cd "$LOCAL_CA" && find . -name '*.crt' -type f | tr '\n' ' ')"
fi
# node reads its own CA list; NODE_EXTRA_CA_CERTS adds the system bundle (as on this host).
ca_env=()
[ "$extra_ca" = 1 ] && ca_env=(--change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt")

# The host binary must run on the rootfs' own libraries (glibc, libstdc++), not the host's.
got="$(chroot "$root" /usr/local/bin/node -p 'process.versions.node + " " + process.versions.openssl')" \
  || die "the node binary does not run inside the minbase rootfs (missing shared libraries?)"
chroot "$root" /usr/local/bin/npm --version >/dev/null || die "npm does not run inside the rootfs"
[ -s "$root/etc/ssl/certs/ca-certificates.crt" ] || die "ca-certificates missing from the rootfs"
say "node $got runs in the rootfs"

# Slim it as the official slim images do: no package caches, lists, docs or manuals.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/etc/hostname
: >"$root/etc/resolv.conf"

tar --numeric-owner --xattrs -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
  -cf - . | podman_ import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' "${ca_env[@]}" \
  --change "LABEL $LABEL=$inputs" \
  --change "LABEL org.opencontainers.image.description=srmudp local base: Debian $SUITE minbase, Node $node_version, npm $npm_version, ca-certificates" \
  --quiet --message "srmudp build-base.sh" - "$IMAGE" >/dev/null

new_id="$(podman_ image inspect --format '{{.Id}}' "$IMAGE")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  podman_ rmi "$old_id" >/dev/null 2>&1 || say "previous base $old_id still in use; not removed"
fi
size="$(podman_ image inspect --format '{{.Size}}' "$IMAGE")"
say "built $IMAGE in $(( $(date +%s) - t0 ))s ($(( size / 1000000 )) MB, inputs $inputs)"
echo "$IMAGE"
