#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite:
# install missing packages, build, run every test through CTest under the validation layer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600 -LE long "$@"
