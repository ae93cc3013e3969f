#!/bin/sh
# Installs every Debian 12 package that vkflow's build, tests and demo need.
# Idempotent: safe to run again. Needs root (or sudo).
set -eu

packages="
  build-essential cmake pkg-config git ca-certificates
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  glslc libshaderc-dev spirv-tools glslang-dev
  libconfig-dev libpcap-dev libcriterion-dev libopenblas-dev
  gnuplot-nox chromium
"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $packages
