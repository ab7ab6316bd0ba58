#!/usr/bin/env bash
# Prints the folder whose glslangValidator and spirv-val the build should use, providing a current
# shader toolchain on Debian 12 (issue 25; third_party_notes/glslang-tools-debian13.md):
#   - the system's tools, when they compile and validate GL_KHR_cooperative_matrix and
#     GL_NV_cooperative_matrix2 (Debian 13, Ubuntu 24.04 and newer: nothing extra);
#   - else Debian 13's glslang-tools and spirv-tools with Debian 13's own libc, libstdc++ and
#     libgcc, unpacked (dpkg-deb -x, no installation) into a private prefix and run through that
#     prefix's dynamic loader by two wrapper scripts in <prefix>/bin.
# The prefix is ${VKATTN_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-~/.cache}/vkattn/toolchain-debian13}, outside
# any build tree; a complete one is reused as it is (a second run downloads nothing). The
# packages come through apt with a private sources folder, list state and cache: the system's
# apt configuration is not touched, and the mirror is the one the system's own Debian sources name.
# If anything fails (no network, no apt), it says why on stderr and prints the system's folder:
# the build then has the stock toolchain and the NV cooperative-matrix path only.
# Usage: dir=$(bash scripts/current_toolchain.sh)   VKATTN_TOOLCHAIN=system forces the system's.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
system_dir=$(dirname "$(command -v glslangValidator || echo /usr/bin/glslangValidator)")
say() { echo "current_toolchain: $*" >&2; }

# Whether the tools in folder $1 compile and validate both probes.
current() {
  local dir=$1 tmp ok=0
  tmp=$(mktemp -d)
  for probe in khr_cooperative_matrix nv_cooperative_matrix2; do
    if ! "$dir/glslangValidator" --target-env vulkan1.3 -V "$root/cmake/probes/$probe.comp" -o "$tmp/$probe.spv" \
      >/dev/null 2>&1 || ! "$dir/spirv-val" --target-env vulkan1.3 "$tmp/$probe.spv" >/dev/null 2>&1; then
      ok=1
    fi
  done
  rm -rf "$tmp"
  return $ok
}

if [ "${VKATTN_TOOLCHAIN:-}" = system ] || current "$system_dir"; then
  echo "$system_dir"
  exit 0
fi

prefix=${VKATTN_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vkattn/toolchain-debian13}
if [ -f "$prefix/.complete" ] && current "$prefix/bin"; then
  echo "$prefix/bin"
  exit 0
fi

fetch() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { say "no apt-get/dpkg-deb"; return 1; }
  local uri keyring work opts
  # The system's own Debian mirror (deb822 sources, else a one-line list), never one written here.
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [ -n "$uri" ] || uri=$(awk '/^deb / && $0 !~ /security/ {for (i = 2; i <= NF; ++i) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
  [ -n "$uri" ] || { say "no Debian mirror in the system's apt sources"; return 1; }
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || { say "no $keyring"; return 1; }
  work=$(mktemp -d)
  mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
  echo "deb [signed-by=$keyring] $uri trixie main" >"$work/sources/debian13.list"
  opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources" -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache" -o "Dir::State::Status=/dev/null" -o "APT::Sandbox::User=root" -q)
  apt-get "${opts[@]}" update >"$work/log" 2>&1 || { say "apt-get update (Debian 13 lists) failed: $(tail -1 "$work/log")"; return 1; }
  (cd "$work/debs" && apt-get "${opts[@]}" download glslang-tools spirv-tools libc6 libstdc++6 libgcc-s1) \
    >>"$work/log" 2>&1 || { say "apt-get download failed: $(tail -1 "$work/log")"; return 1; }
  rm -rf "$prefix"
  mkdir -p "$prefix/bin"
  for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$prefix" || return 1; done
  # Wrappers: Debian 13's loader with Debian 13's libraries only (nothing of the system's libc).
  for tool in glslangValidator spirv-val; do
    cat >"$prefix/bin/$tool" <<WRAP
#!/bin/sh
# Debian 13's $tool with its own libc (scripts/current_toolchain.sh).
here=\$(cd "\$(dirname "\$0")/.." && pwd)
exec "\$here/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$here/usr/lib/x86_64-linux-gnu" "\$here/usr/bin/$tool" "\$@"
WRAP
    chmod +x "$prefix/bin/$tool"
  done
  (cd "$work/debs" && ls *.deb) >"$prefix/.complete"
  rm -rf "$work"
  current "$prefix/bin" || { say "Debian 13's tools in $prefix fail the probes"; return 1; }
}

if [ "$(uname -m)" = x86_64 ] && fetch; then
  say "using Debian 13's glslang and SPIRV-Tools from $prefix ($("$prefix/bin/glslangValidator" --version | head -1))"
  echo "$prefix/bin"
else
  say "keeping the system's glslang ($("$system_dir/glslangValidator" --version 2>/dev/null | head -1)): KHR and cooperative-matrix-2 kernels are not compiled in"
  echo "$system_dir"
fi
