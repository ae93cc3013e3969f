#!/bin/sh
# Installs every Debian 12 package that vkflow's build, tests and demo need.
# Idempotent: safe to run again. Needs root (or sudo).
set -eu

packages="
  build-essential cmake pkg-config git ca-certificates
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  glslc libshaderc-dev spirv-tools glslang-dev
  libconfig-dev libpcap-dev libcriterion-dev libopenblas-dev
  zlib1g-dev liblzma-dev libzstd-dev libbz2-dev
  argus-server argus-client nfdump netbase gzip xz-utils zstd bzip2
  gnuplot-nox chromium
  tshark tcpdump clang man-db
  openmpi-bin libopenmpi-dev
"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, non-interactively
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $packages

# Default dataset (engine/trace, docs/TRACES.md): the real one-hour enterprise
# capture that Debian's `pathspider` package ships as a test file (GPL-2+).
# Only that file is extracted; the package is not installed.
repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/data/default/real.pcap"
if [ ! -s "$dest" ]; then
  tmp=$(mktemp -d)
  chmod 755 "$tmp"   # apt's _apt sandbox user writes the .deb here
  (cd "$tmp" && apt-get download -q pathspider)
  deb=$(ls "$tmp"/pathspider_*.deb)
  member=$(dpkg-deb -c "$deb" | awk '{print $NF}' | grep '/tests/data/real\.pcap$' | head -n 1)
  if [ -z "$member" ]; then echo "setup: real.pcap not found in $deb" >&2; exit 1; fi
  dpkg-deb -x "$deb" "$tmp/x"
  mkdir -p "$repo/data/default"
  cp "$tmp/x/$member" "$dest.tmp" && mv "$dest.tmp" "$dest"
  rm -rf "$tmp"
  echo "setup: default dataset at $dest (from $(basename "$deb"))"
fi
