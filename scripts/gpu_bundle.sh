#!/usr/bin/env bash
# On Debian 12: packs a Release build for the NVIDIA device machine (../shared/GPU.md) into
# .gpu/bundle.tar.xz, the one archive scripts/gpu_env.sh unpacks there:
#   build/      the build tree without CMakeFiles, objects and static libraries
#   build_path  the tree's absolute path here (test binaries that start other binaries have it
#               compiled in; gpu_env.sh links it to the unpacked tree)
#   lib/        Debian's libbenchmark.so.1debian (Google Benchmark is a shared library there)
#   vvl/        Debian 13's libvulkan1 and vulkan-validationlayers 1.4.309 .deb files, fetched
#               with a private apt state (the system's apt configuration is not touched)
# Usage: bash scripts/gpu_bundle.sh [BUILD_DIR]   (default: build)
# Carry .gpu and .gl (Debian 12's GL/Vulkan runtime .deb files, GPU.md) with the device call.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/vvl" "$root/.gpu"
tar -C "$build" --exclude=CMakeFiles --exclude='*.o' --exclude='*.a' --exclude=Testing -cf - . |
  (mkdir -p "$stage/build" && tar -C "$stage/build" -xf -)
echo "$build" >"$stage/build_path"
cp -L /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian "$stage/lib/"
# Debian 13's validation layer and loader: a private sources list with the system's own URI.
cache=${VKATTN_VVL_CACHE:-$HOME/.cache/vkattn/vvl-debian13}
if ! ls "$cache"/vulkan-validationlayers_*.deb >/dev/null 2>&1; then
  mkdir -p "$cache/lists/partial" "$cache/parts" "$cache/debs"
  # Only live source files (*.sources, *.list; not ones renamed to disable them), and a Debian
  # archive among them (not a third-party repository such as a Node.js one).
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; ++i) print $i}' |
    grep -v security | grep -m1 debian || true)
  [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '/^deb / {for (i = 2; i <= NF; ++i) if ($i ~ /^[a-z]+:\/\//) print $i}' | grep -v security | grep -m1 debian || true)
  [ -n "$uri" ] || { echo "gpu_bundle: no Debian archive in the system's apt sources" >&2; exit 1; }
  echo "deb $uri trixie main" >"$cache/parts/trixie.list"
  o=(-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts="$cache/parts" -oDir::State::Lists="$cache/lists"
    -oAPT::Architecture=amd64 -oAPT::Architectures=amd64)
  apt-get "${o[@]}" update >/dev/null
  (cd "$cache" && apt-get "${o[@]}" download libvulkan1 vulkan-validationlayers >/dev/null)
fi
cp "$cache"/libvulkan1_*.deb "$cache"/vulkan-validationlayers_*.deb "$stage/vvl/"
tar -C "$stage" -cf - . | xz -T0 -6 >"$root/.gpu/bundle.tar.xz"
ls -la "$root/.gpu/bundle.tar.xz"
