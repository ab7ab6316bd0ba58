#!/usr/bin/env bash
# Does the NVIDIA driver turn a plain global -> shared copy in a compute shader into LDGSTS (the
# asynchronous copy CUDA reaches through cp.async)? Three small shaders (scripts/nv_copy_probe/):
#   copy_sync.comp    load a tile, store it to shared memory, barrier, use it
#   copy_double.comp  two stage buffers: tile t + 1 copied while tile t is used, one barrier per tile
#   copy_uvec2.comp   as copy_sync, stored as two 8-byte halves (as attn_cm_tiles.glsl stages tiles)
# are built into one VkPipelineCache (cache_dump.c) and disassembled with scripts/nv_sass.py.
#   bash scripts/nv_copy_probe.sh build DIR   on Debian: compile the shaders and cache_dump into DIR
#                                             (GLSLANG=path to glslangValidator, default from PATH)
#   bash scripts/nv_copy_probe.sh run DIR     on the NVIDIA machine (after scripts/gpu_env.sh; needs
#                                             zstd and nvdisasm on PATH): prints each pipeline's
#                                             loads, stores, barriers and any LDGSTS / DEPBAR
# Result on an H100, driver 580.159 (bench/RESULTS_H100.md, thirty-fourth session): no LDGSTS in any
# of the three; every copy is LDG.E.128 then STS.128 through registers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:?usage: nv_copy_probe.sh build|run DIR}
dir=${2:?usage: nv_copy_probe.sh build|run DIR}
shaders=(copy_sync copy_double copy_uvec2)
case "$mode" in
  build)
    mkdir -p "$dir"
    for s in "${shaders[@]}"; do
      "${GLSLANG:-glslangValidator}" -V --target-env vulkan1.3 -o "$dir/$s.spv" "$here/nv_copy_probe/$s.comp" >/dev/null
    done
    cc -O1 -o "$dir/cache_dump" "$here/nv_copy_probe/cache_dump.c" -lvulkan ;;
  run)
    (cd "$dir" && ./cache_dump cache.bin "${shaders[@]/%/.spv}")
    python3 "$here/nv_sass.py" "$dir/cache.bin" "$dir/sass"
    for n in 0 1 2; do
      echo "-- ${shaders[$n]}"
      grep -oE '(LDGSTS|LDGDEPBAR|DEPBAR|LDG|STS|LDS|BAR)[.A-Z0-9_]*' "$dir/sass/pipeline$n.sass" | sort | uniq -c
    done ;;
  *) echo "nv_copy_probe.sh: unknown mode $mode (build or run)" >&2; exit 2 ;;
esac
