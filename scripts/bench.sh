#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the benchmark CLI on the default device
# (the first discrete GPU, else lavapipe). Extra arguments go to vkattn-bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
"${BUILD_DIR:-$root/build}/bench/vkattn-bench" "$@"
