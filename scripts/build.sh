#!/usr/bin/env bash
# Configures and builds vkattn (Release with assertions off) into ${BUILD_DIR:-build}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
# The shader toolchain: a current glslang and spirv-val (scripts/current_toolchain.sh: the system's
# where they are current, else Debian 13's in a private prefix). CMAKE_ARGS may name others
# (-DVKATTN_GLSLANG=..., e.g. a Vulkan SDK's), which win.
tools=$(bash "$root/scripts/current_toolchain.sh")
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -DVKATTN_GLSLANG="$tools/glslangValidator" -DVKATTN_SPIRV_VAL="$tools/spirv-val" ${CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
