// Sharding of a sequence over the ranks of a ring (vkattn/ring.hpp): contiguous slices, or the
// zigzag pairs of chunks that balance a causal mask.
#include <algorithm>
#include <vector>

#include "vkattn/ring.hpp"

namespace vkattn {
namespace {

// Chunk i of `n` near-equal chunks of `total`: total / n tokens, one more for the first total % n.
ShardPiece chunk(std::int64_t total, std::int64_t n, std::int64_t i) {
  const std::int64_t base = total / n, extra = total % n;
  return {i * base + std::min(i, extra), 0, base + (i < extra ? 1 : 0)};
}

}  // namespace

std::vector<ShardPiece> ring_shard_pieces(RingSharding sharding, std::int64_t seq_total, int ranks, int rank) {
  if (ranks < 1 || rank < 0 || rank >= ranks || seq_total < 0) return {};
  if (sharding == RingSharding::kContiguous) return {chunk(seq_total, ranks, rank)};
  ShardPiece first = chunk(seq_total, 2 * ranks, rank);
  ShardPiece second = chunk(seq_total, 2 * ranks, 2 * ranks - 1 - rank);
  second.local_start = first.length;
  return {first, second};
}

std::int64_t ring_shard_length(RingSharding sharding, std::int64_t seq_total, int ranks, int rank) {
  std::int64_t n = 0;
  for (const ShardPiece& p : ring_shard_pieces(sharding, seq_total, ranks, rank)) n += p.length;
  return n;
}

}  // namespace vkattn
