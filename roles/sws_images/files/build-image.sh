#!/bin/sh
# Build one offline image: a root filesystem from Debian packages (mmdebstrap, when the context
# has a `packages` file), turned into an image by `docker import`, then the context's Dockerfile
# on top of it for what `docker import` cannot set (STOPSIGNAL, ENTRYPOINT, USER).
# Usage: build-image.sh IMAGE CONTEXT_DIR [BASE_IMAGE]
set -eu
image=$1
context=$2
base=${3:-}
suite=${SWS_DEBIAN_SUITE:-bookworm}
export DOCKER_BUILDKIT=0

if [ -f "$context/packages" ]; then
  rootfs=$(mktemp /tmp/sws-rootfs.XXXXXX.tar)
  trap 'rm -f "$rootfs"' EXIT
  set -- --variant=essential \
    --include="$(grep -v '^#' "$context/packages" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log'
  # A context may prepare the tree before its packages are installed, and adjust it after.
  [ -f "$context/essential-hook.sh" ] && set -- "$@" --essential-hook="sh $context/essential-hook.sh \"\$1\""
  [ -f "$context/customize-hook.sh" ] && set -- "$@" --customize-hook="sh $context/customize-hook.sh \"\$1\""
  mmdebstrap --quiet "$@" "$suite" "$rootfs" </dev/null
  base="$image-rootfs"
  docker import "$rootfs" "$base" >/dev/null
fi

docker build --quiet --build-arg "BASE=$base" --tag "$image" "$context" >/dev/null
echo "built $image"
