#!/usr/bin/env bash
# Sanitizer runs of the suite (CI runs asan after the main test command; tsan is run by hand):
#   bash scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer build of
#                                   everything in build-asan/, then every CI test under it
#   bash scripts/sanitize.sh tsan   ThreadSanitizer build of the concurrency test in
#                                   build-tsan/, then that test
# Only vkattn's own code is instrumented; the Vulkan loader, the validation layer and lavapipe
# are the system's uninstrumented libraries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-asan}
jobs=${JOBS:-$(nproc)}
bash "$root/scripts/install_deps.sh"
tools=$(bash "$root/scripts/current_toolchain.sh")  # the shader toolchain scripts/build.sh uses
toolchain=(-DVKATTN_GLSLANG="$tools/glslangValidator" -DVKATTN_SPIRV_VAL="$tools/spirv-val")
case "$mode" in
  asan)
    build="$root/build-asan"
    # -O1 -g1 (line tables, enough for the sanitizers' stack traces): this build compiles in about
    # half the time of -O2 -g on CI's two cores, and CI must finish within 30 minutes.
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DVKATTN_SANITIZE=address,undefined "${toolchain[@]}"
    cmake --build "$build" -j "$jobs"
    # dlclose() is a no-op under the sanitizers (scripts/keep_modules_loaded.c says why); ASan
    # would otherwise refuse a library preloaded ahead of its runtime.
    cc -shared -fPIC -O2 -o "$build/keep_modules_loaded.so" "$root/scripts/keep_modules_loaded.c"
    export LD_PRELOAD="$build/keep_modules_loaded.so"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:verify_asan_link_order=0:suppressions=$root/scripts/asan.supp"
    export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    # not_sanitized: tests that time the uninstrumented driver (bench_pipeline_timing: lavapipe's
    # LLVM compiling pipelines, 6x slower under ASan's allocator; bench_decode_copy: its copies)
    # and add no vkattn code to check.
    cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 900 -LE "long|not_sanitized"
    ;;
  tsan)
    build="$root/build-tsan"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKATTN_SANITIZE=thread -DVKATTN_BUILD_BENCH=OFF "${toolchain[@]}"
    cmake --build "$build" -j "$jobs" --target concurrency_test
    TSAN_OPTIONS="halt_on_error=1:suppressions=$root/scripts/tsan.supp" "$build/tests/concurrency_test"
    ;;
  *)
    echo "usage: $0 asan|tsan" >&2
    exit 2
    ;;
esac
