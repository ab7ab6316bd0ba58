# Sourced on the NVIDIA device machine by scripts/gpu_suite.sh (and by hand before timing there):
# unpacks the carried build (.gpu/bundle.tar.xz), Debian 12's Vulkan runtime (.gl/) and Debian 13's
# loader and validation layer 1.4.309 (into /opt/vvl), and exports what the binaries need. $root
# is the repository root. scripts/gpu_bundle.sh makes the archive; carry .gpu and .gl.
[ -f "$root/.gpu/bundle.tar.xz" ] && [ ! -d "$root/.gpu/build" ] && tar -C "$root/.gpu" -xJf "$root/.gpu/bundle.tar.xz"
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
export PATH=$root/.gpu/bin:$PATH  # tools carried for the machine (e.g. zstd, for scripts/nv_sass.py)
# Test binaries that start other binaries have the build's absolute path compiled in
# (.gpu/build_path, written by scripts/gpu_bundle.sh); scripts expect build/ in the repo root.
[ -e "$root/build" ] || ln -s "$root/.gpu/build" "$root/build"
[ -e /work/main ] || { mkdir -p /work && ln -s "$root" /work/main; }
if [ -f "$root/.gpu/build_path" ]; then
  built_at=$(cat "$root/.gpu/build_path")
  [ -e "$built_at" ] || { mkdir -p "$(dirname "$built_at")" && ln -s "$root/.gpu/build" "$built_at"; }
fi
