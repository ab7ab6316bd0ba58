#!/usr/bin/env bash
# libFuzzer on the pipeline-cache loader (tests/fuzz/cache_file_fuzz.cpp), ASan + UBSan, on the
# default Vulkan device (lavapipe without a GPU):
#   bash scripts/fuzz.sh [RUNS]      RUNS executions (default 1000000), then exit 0 if nothing crashed
# Builds Clang-compiled build-fuzz/. Seeds: a real cache file and its driver blob, written by the
# target itself (VKATTN_FUZZ_WRITE_SEEDS); the corpus grows in build-fuzz/corpus/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-1000000}
jobs=${JOBS:-$(nproc)}
EXTRA_PACKAGES="clang libclang-rt-14-dev" bash "$root/scripts/install_deps.sh"
build="$root/build-fuzz"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVKATTN_SANITIZE=address,undefined,fuzzer-no-link -DVKATTN_BUILD_FUZZ=ON \
  -DVKATTN_BUILD_TESTS=OFF -DVKATTN_BUILD_BENCH=OFF
cmake --build "$build" -j "$jobs" --target cache_file_fuzz
corpus="$build/corpus"
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$corpus"
export XDG_CACHE_HOME="$build/xdg"  # nothing touches the user's cache
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=0"  # leaks: scripts/sanitize.sh asan covers them
VKATTN_FUZZ_WRITE_SEEDS="$seeds" "$build/tests/fuzz/cache_file_fuzz" -runs=0 "$corpus"
cp "$seeds"/* "$corpus"/
start=$(date +%s)
status=0
"$build/tests/fuzz/cache_file_fuzz" -runs="$runs" -max_len=65536 -print_final_stats=1 "$corpus" \
  >"$build/fuzz.log" 2>&1 || status=$?
grep -v "NEW\|REDUCE\|pulse" "$build/fuzz.log" | tail -n 40
echo "fuzz.sh: $runs runs, exit $status, $(($(date +%s) - start)) s (log: $build/fuzz.log)"
exit "$status"
