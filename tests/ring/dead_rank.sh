#!/usr/bin/env bash
# A rank of the ring dies: every other rank must report kCommunication within the ring's timeout
# (tests/ring/ring_test.cpp --dead-rank). Usage: dead_rank.sh MPIRUN RING_TEST RANKS
set -uo pipefail
mpirun=$1 test=$2 ranks=$3
out=$("$mpirun" --allow-run-as-root --oversubscribe --bind-to none --mca orte_abort_on_non_zero_status 0 --mca orte_allowed_exit_without_sync 1 --mca orte_enable_recovery 1 -np "$ranks" "$test" --dead-rank 2>&1)
echo "$out"
reported=$(grep -c "^dead-rank: rank [0-9]* reported after .*within 3000 ms" <<< "$out")
unexpected=$(grep -c "UNEXPECTED" <<< "$out")
if [ "$reported" -eq $((ranks - 1)) ] && [ "$unexpected" -eq 0 ]; then
  echo "dead_rank.sh: all $((ranks - 1)) surviving ranks reported the dead peer"
  exit 0
fi
echo "dead_rank.sh: $reported of $((ranks - 1)) surviving ranks reported the dead peer"
exit 1
