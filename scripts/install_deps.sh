#!/usr/bin/env bash
# Installs the Debian 12 packages vkattn needs, only those missing.
set -euo pipefail
packages=(
  cmake make g++ pkg-config
  libvulkan-dev glslang-tools spirv-tools
  mesa-vulkan-drivers vulkan-validationlayers
  googletest libgtest-dev libbenchmark-dev
  openmpi-bin libopenmpi-dev
)
# Callers add more, e.g. scripts/fuzz.sh needs Clang and its libFuzzer runtime.
read -r -a extra <<< "${EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
else
  echo "install_deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# A current shader toolchain (glslang >= 15.1, SPIRV-Tools >= 2025.1) where the system's is older:
# Debian 13's, unpacked into a private prefix outside the tree (scripts/current_toolchain.sh).
echo "install_deps: shader toolchain in $(bash "$(dirname "$0")/current_toolchain.sh")"
