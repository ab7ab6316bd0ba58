#!/usr/bin/env bash
# vkattn as its users take it, on lavapipe with the validation layer: installed into a temporary
# prefix and used (1) through find_package(vkattn) by examples/consumer, (2) through pkg-config by
# the same program built with g++ alone, (3) through find_package(vkattn) from a C-only project,
# examples/consumer_c, on the C API, and (4) through add_subdirectory by examples/subproject,
# whose parent sets no C++ standard and no build type. Each program checks its result against a
# CPU reference and fails on any validation message.
#   consume_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?usage: consume_test.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: consume_test.sh BUILD_DIR SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export VKATTN_VALIDATION=1
jobs=${JOBS:-$(nproc)}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
echo "installed: $(cd "$tmp/prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

echo "== find_package"
cmake -S "$src/examples/consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake" -j "$jobs" >/dev/null
"$tmp/cmake/consumer"

echo "== pkg-config"
pcdir=$(dirname "$(find "$tmp/prefix" -name vkattn.pc)")
libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir vkattn)
# shellcheck disable=SC2046
g++ -std=c++20 "$src/examples/consumer/main.cpp" -o "$tmp/pc-consumer" \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs vkattn) -Wl,-rpath,"$libdir"
"$tmp/pc-consumer"

echo "== find_package from C"
# A C-only project: the package must not need C++ or MPI for the core library.
cmake -S "$src/examples/consumer_c" -B "$tmp/cmake-c" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-c" -j "$jobs" >/dev/null
"$tmp/cmake-c/c_consumer"

if [ -n "$(find "$tmp/prefix" -name 'vkattnRingTargets.cmake')" ]; then
  echo "== find_package COMPONENTS ring"
  mkdir -p "$tmp/ring-src"
  cat >"$tmp/ring-src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.21)
project(ring_consumer LANGUAGES CXX)
find_package(vkattn 0.2 REQUIRED COMPONENTS ring)
if(NOT TARGET vkattn::vkattn_ring OR NOT vkattn_ring_FOUND)
  message(FATAL_ERROR "COMPONENTS ring did not define vkattn::vkattn_ring")
endif()
CMAKE
  cmake -S "$tmp/ring-src" -B "$tmp/ring" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
fi

echo "== add_subdirectory"
cmake -S "$src/examples/subproject" -B "$tmp/sub" -DVKATTN_SOURCE_DIR="$src" >/dev/null
cmake --build "$tmp/sub" -j "$jobs" --target consumer >/dev/null
"$tmp/sub/consumer"
echo "consume_test: all four ways work"
