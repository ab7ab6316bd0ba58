#!/usr/bin/env bash
# On the NVIDIA device machine (../shared/GPU.md): the whole suite under the current validation
# layer, once per kernel path, from a Debian 12 build carried there. Prepare on Debian 12:
#   .gpu/build     the build tree without objects (tar --exclude CMakeFiles --exclude '*.o' ...)
#   .gpu/lib       libbenchmark.so.1debian
#   .gpu/vvl       Debian 13's vulkan-validationlayers and libvulkan1 (1.4.309) .deb files
#   .gl/           Debian 12's GL/Vulkan runtime .deb files (GPU.md)
# Usage: bash scripts/gpu_suite.sh OUT_DIR [auto|scalar|long ...]   (default: auto scalar)
# Writes OUT_DIR/<pass>.log per binary and OUT_DIR/summary.txt ("N passed, N failed" per pass).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: gpu_suite.sh OUT_DIR [passes]}
shift
passes=("$@")
[ ${#passes[@]} -eq 0 ] && passes=(auto scalar)
mkdir -p "$out"
for f in "$root"/.gl/*.deb; do dpkg -x "$f" /; done
ldconfig
mkdir -p /opt/vvl
for f in "$root"/.gpu/vvl/*.deb; do dpkg -x "$f" /opt/vvl; done
layer_dir=/opt/vvl/usr/share/vulkan/explicit_layer.d
sed -i "s|\"library_path\": \"[^\"]*\"|\"library_path\": \"/opt/vvl/usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so\"|" \
  "$layer_dir"/VkLayer_khronos_validation.json
export VK_LAYER_PATH=$layer_dir
export LD_LIBRARY_PATH=/opt/vvl/usr/lib/x86_64-linux-gnu:$root/.gpu/lib:${LD_LIBRARY_PATH:-}
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# Test binaries that start other binaries have the build's absolute path compiled in.
[ -e /work/main ] || { mkdir -p /work && ln -s "$root" /work/main; }
[ -e /work/main/build ] || ln -s "$root/.gpu/build" /work/main/build
tests=/work/main/build/tests
long=(forward_sweep_test backward_sweep_test numerics_long_test)
: >"$out/summary.txt"
for pass in "${passes[@]}"; do
  bins=()
  for b in "$tests"/*_test; do
    name=$(basename "$b")
    is_long=0
    for l in "${long[@]}"; do [ "$name" = "$l" ] && is_long=1; done
    if [ "$pass" = long ]; then [ $is_long = 1 ] && bins+=("$b"); else [ $is_long = 0 ] && bins+=("$b"); fi
  done
  path=auto
  [ "$pass" = scalar ] && path=scalar
  mkdir -p "$out/$pass"
  printf '%s\n' "${bins[@]}" | VKATTN_PATH=$path xargs -P 8 -I{} sh -c \
    'b={}; "$b" --gtest_brief=1 >"'"$out/$pass"'/$(basename $b).log" 2>&1; echo "$(basename $b) $?"' \
    >"$out/$pass/exit_codes.txt"
  passed=$(cat "$out/$pass"/*.log | grep -o '\[  PASSED  \] [0-9]* test' | awk '{s+=$4} END {print s+0}')
  failed=$(cat "$out/$pass"/*.log | grep -o '\[  FAILED  \] [0-9]* test' | awk '{s+=$4} END {print s+0}')
  skipped=$(cat "$out/$pass"/*.log | grep -o '\[  SKIPPED \] [0-9]* test' | awk '{s+=$4} END {print s+0}')
  bad=$(awk '$2 != 0' "$out/$pass/exit_codes.txt" | wc -l)
  echo "$pass: $passed passed, $failed failed, $skipped skipped; binaries exiting non-zero: $bad" | tee -a "$out/summary.txt"
done
