#!/usr/bin/env bash
# The platform's images, built with no network inside the build (podman build --network=none):
#   deploy/container/build.sh install   podman, podman-compose, runc and debootstrap (Debian's,
#                                       as root), if missing
#   deploy/container/build.sh           install, then build (cached steps are skipped):
#     localhost/larder           the platform (Containerfile): `python -m pipelines|training|
#                                serving|monitoring ...` over the domains and tiers of this repo
#     localhost/larder-services  Redis and PostgreSQL (Containerfile.services), for compose.yaml
# Wheels are downloaded here, for Python 3.11 on manylinux x86_64, pinned to the versions of
# .venv (`make install`), and installed in the build with `pip install --no-index`.
# With no registry to pull from, each base is a Debian bookworm made by debootstrap
# (`--variant=minbase`) from apt's own mirror, imported once with `podman import`.
# LARDER_BASE_IMAGE (e.g. docker.io/library/python:3.11-slim) and LARDER_SERVICES_BASE_IMAGE
# (any Debian bookworm with redis-server and postgresql) name other bases instead.
# Variables: LARDER_CONTAINER_CACHE (${TMPDIR:-/tmp}/larder-container: rootfs, wheels, build
# context), LARDER_IMAGE (localhost/larder:latest), LARDER_SERVICES_IMAGE
# (localhost/larder-services:latest), LARDER_DEBIAN_MIRROR (apt's), VENV (.venv).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${LARDER_CONTAINER_CACHE:-${TMPDIR:-/tmp}/larder-container}
IMAGE=${LARDER_IMAGE:-localhost/larder:latest}
SERVICES_IMAGE=${LARDER_SERVICES_IMAGE:-localhost/larder-services:latest}
VENV=${VENV:-$ROOT/.venv}
SUITE=bookworm  # Python 3.11, as pyproject.toml requires
BASE_DEBS=python3,python3-venv,ca-certificates,libgomp1  # libgomp1: LightGBM's OpenMP
SERVICES_DEBS=redis-server,postgresql
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 linux_x86_64)

hint() {  # what to try when podman cannot start a container on this machine
  [ -n "${CONTAINERS_CONF:-}" ] ||
    echo " (if it says setrlimit or cgroups: CONTAINERS_CONF=$HERE/containers.conf)"
}

say() { echo "build: $*" >&2; }
fail() { say "$*"; exit 1; }

install() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v podman-compose >/dev/null || missing+=(podman-compose)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ ${#missing[@]} = 0 ] && return
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]}: run \`$0 install\` as root (apt-get)"
  command -v apt-get >/dev/null || fail "missing ${missing[*]}, and no apt-get to install them"
  say "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

debian_mirror() {  # the first Debian archive apt reads (not the security one)
  if [ -n "${LARDER_DEBIAN_MIRROR:-}" ]; then echo "$LARDER_DEBIAN_MIRROR"; return; fi
  local found
  found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }
         /^URIs:/ { for (i = 2; i <= NF; i++) print $i }' |
    grep -E '/debian/?$' | head -n 1 || true)
  echo "${found:-http://deb.debian.org/debian}"
}

key() { echo "$*" | sha256sum | cut -c1-8; }  # a cache entry's name: what made it

# A Debian rootfs with `debs` installed, imported as `image`; made once (its tarball is kept).
debian_image() {
  local image=$1 debs=$2 name
  name=$3-$(key "$debs")
  if podman image exists "$image"; then return; fi
  local tarball="$CACHE/$name.tar"
  if [ ! -f "$tarball" ]; then
    [ "$(id -u)" = 0 ] || fail "debootstrap needs root to make $image"
    local rootfs="$CACHE/$name.rootfs" mirror
    mirror=$(debian_mirror)
    say "debootstrap $SUITE ($debs) from $mirror"
    rm -rf "$rootfs" && mkdir -p "$CACHE/debs"
    debootstrap --variant=minbase --include="$debs" --cache-dir="$CACHE/debs" \
      "$SUITE" "$rootfs" "$mirror" >"$CACHE/$name.log" 2>&1 ||
      fail "debootstrap failed, see $CACHE/$name.log"
    # What no container reads: package caches, documentation, translations, and the cluster
    # Debian's postgresql makes at install (a container makes its own PGDATA).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
      "$rootfs"/var/lib/postgresql/*/main "$rootfs"/etc/postgresql/*/main
    tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  say "importing $image"
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
}

# The project's wheel and every dependency's (the `servers` extra too), pinned to .venv's, for
# the base's Python (its version is $1). Downloaded again only when the pins change.
wheels() {
  local target=$1 out="$CACHE/context/wheels" src="$CACHE/src" pins="$CACHE/pins.txt"
  [ -x "$VENV/bin/pip" ] || fail "no $VENV/bin/pip: run \`make install\` first"
  rm -rf "$src" && mkdir -p "$src/dist"
  cp "$ROOT/pyproject.toml" "$src/"
  (cd "$ROOT" && tar -cf - --exclude=__pycache__ --exclude='*.pyc' \
    larder pipelines training serving stores monitoring) | tar -C "$src" -xf -
  "$VENV/bin/pip" wheel --quiet --no-deps --wheel-dir "$src/dist" "$src" >/dev/null ||
    fail "cannot build the project's wheel from $src"
  local wheel stamp
  wheel=$(echo "$src"/dist/larder-*.whl)
  "$VENV/bin/pip" freeze --exclude-editable | grep -v -i '^larder[ =]' >"$pins"
  stamp=$( (cat "$pins" "$ROOT/pyproject.toml"; echo "$target") | sha256sum | cut -c1-16)
  [ -f "$out/.downloaded-$stamp" ] || download "$target" "$wheel" "$pins" "$out"
  touch "$out/.downloaded-$stamp"
  rm -f "$out"/larder-*.whl && cp "$wheel" "$out/"
  # What the image installs, pinned: every wheel but the project's (its own layer).
  local found
  for found in "$out"/*.whl; do
    found=${found##*/}
    [[ $found == larder-* ]] || echo "$found" | sed -E 's/^([^-]+)-([^-]+)-.*/\1==\2/'
  done | sort >"$out/requirements.txt"
}

download() {
  local target=$1 wheel=$2 pins=$3 out=$4 tags=() platform sources extra
  say "downloading wheels (pinned to $VENV)"
  rm -rf "$out" && mkdir -p "$out"
  for platform in "${PLATFORMS[@]}"; do tags+=(--platform "$platform"); done
  # Packages published as sources only are built into wheels here first.
  "$VENV/bin/pip" install --quiet --dry-run --ignore-installed --report "$CACHE/resolved.json" \
    --constraint "$pins" "${wheel}[servers]" || fail "cannot resolve the project against $pins"
  sources=$("$VENV/bin/python" -c 'import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    if not item["download_info"]["url"].endswith(".whl"):
        print(item["metadata"]["name"] + "==" + item["metadata"]["version"])' "$CACHE/resolved.json")
  if [ -n "$sources" ]; then
    # shellcheck disable=SC2086  # one requirement a word
    "$VENV/bin/pip" wheel --quiet --no-deps --wheel-dir "$out" $sources ||
      fail "cannot build wheels of $sources"
  fi
  extra=$("$VENV/bin/python" "$HERE/target_requirements.py" "$CACHE/resolved.json" "$target")
  # shellcheck disable=SC2086  # one requirement a line
  "$VENV/bin/pip" download --quiet --only-binary=:all: --python-version "$target" \
    --implementation cp "${tags[@]}" --dest "$out" --find-links "$out" \
    --constraint "$pins" "${wheel}[servers]" $extra ||
    fail "pip download failed (is PyPI reachable from this machine?)"
  rm -f "$out"/larder-*.whl
}

context() {  # what the Containerfiles copy: the domains, the tiers, the entry scripts
  local ctx="$CACHE/context"
  rm -rf "$ctx/repo" && mkdir -p "$ctx/repo/deploy"
  (cd "$ROOT" && tar -cf - --exclude=data --exclude=__pycache__ --exclude='*.pyc' \
    feature_repo examples) | tar -C "$ctx/repo" -xf -
  cp -r "$ROOT/deploy/tiers" "$ctx/repo/deploy/"
  cp "$HERE/entrypoint.sh" "$HERE/services-entrypoint.sh" "$ctx/"
  # LightGBM needs libgomp1, which python:3.11-slim lacks: its Debian package, for a base
  # without it (the Containerfile installs it only then).
  mkdir -p "$ctx/debs"
  if ! ls "$ctx"/debs/libgomp1_*.deb >/dev/null 2>&1; then
    (cd "$ctx/debs" && apt-get download libgomp1 >/dev/null 2>&1) ||
      fail "cannot download Debian's libgomp1 (apt-get download libgomp1)"
  fi
  local commit dirty=""
  commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
  [ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty="+dirty"
  echo "$commit$dirty" >"$ctx/code-version"
}

build() {
  local base=${LARDER_BASE_IMAGE:-localhost/larder-base:$SUITE-$(key "$BASE_DEBS")}
  local services_base
  services_base=${LARDER_SERVICES_BASE_IMAGE:-localhost/larder-services-base:$SUITE-$(key "$SERVICES_DEBS")}
  [ -n "${LARDER_BASE_IMAGE:-}" ] || debian_image "$base" "$BASE_DEBS" base
  [ -n "${LARDER_SERVICES_BASE_IMAGE:-}" ] ||
    debian_image "$services_base" "$SERVICES_DEBS" services-base
  local target
  target=$(podman run --rm --network=none "$base" python3 -c \
    'import platform; print(platform.python_version())') ||
    fail "cannot run python3 in $base$(hint)"
  case "$target" in 3.11.*) ;; *) fail "$base has Python $target, not 3.11" ;; esac
  wheels "$target"
  context
  image "$IMAGE" "$base" Containerfile
  image "$SERVICES_IMAGE" "$services_base" Containerfile.services
  say "built $IMAGE and $SERVICES_IMAGE"
}

image() {  # podman build, offline; the image the tag named before goes if nothing uses it
  local tag=$1 base=$2 file=$3 before
  before=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  say "building $tag over $base"
  podman build --quiet --network=none --build-arg "BASE=$base" \
    --build-arg "CODE_VERSION=$(cat "$CACHE/context/code-version")" --tag "$tag" \
    --file "$HERE/$file" "$CACHE/context" >/dev/null || fail "podman build failed$(hint)"
  if [ -n "$before" ] && [ "$before" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]; then
    podman rmi "$before" >/dev/null 2>&1 || true
  fi
}

case "${1:-build}" in
  install) install ;;
  build) install; mkdir -p "$CACHE"; build ;;
  *) echo "usage: $0 [install|build]" >&2; exit 2 ;;
esac
