// vkattn/ring.hpp — context parallelism across processes: ring attention over MPI.
//
// A sequence of S tokens too long for one device is sharded across the P ranks of an MPI
// communicator; each rank holds its shard of Q, K and V (and of O, dO, dQ, dK, dV) on its own
// device. The K/V shards travel around the ring (rank r sends to r + 1 and receives from r - 1)
// while each rank attends its queries to the shard in hand; the partial results merge exactly
// through their LSE (merge.hpp), so every rank's O and LSE equal single-device attention over the
// whole sequence. The backward sends dK/dV accumulators around the ring with their K/V.
//
//   MPI_Init(...);
//   auto ctx = vkattn::Context::create().value();            // one device per rank
//   vkattn::RingDesc desc{.attention = ..., .seq_total = S, .sharding = RingSharding::kZigzag};
//   auto ring = vkattn::RingAttention::create(*ctx, MPI_COMM_WORLD, desc).value();   // collective
//   ring.forward({q, k, v, o, lse});                          // collective; this rank's shards
//   ring.backward({q, k, v, o, lse, d_o, dq, dk, dv});        // collective
//
// Sharding (RingSharding): contiguous gives rank r the r-th of P near-equal slices; zigzag splits
// the sequence into 2P chunks and gives rank r chunks r and 2P - 1 - r, so that under a causal
// mask every rank does the same work (as Llama-style context-parallel training does). Lengths
// need not divide: chunk i of n has S / n tokens, one more for the first S % n.
// ring_shard_pieces() tells which global positions a rank holds; its tensors hold them in that
// order (zigzag: the first chunk's tokens, then the second's).
//
// What a shard problem may use: GQA, Dk != Dv, fp32 or fp16, any layout of the views, a causal
// mask and sliding windows (desc.attention.mask; positions are global, self-attention, so the
// alignment does not matter), softcap, ALiBi, relative positions and sinks (the sink joins each
// row once). Not: padding, varlen, paged caches, additive bias tensors or document ids (they are
// indexed per shard, not by position): refused when the ring is created.
//
// Failure never hangs: create() and every call first agree across ranks (a collective check of
// the descs, then of each rank's own tensor checks), and a disagreement or a local error is
// returned on every rank with the same message ("ring: rank 2: ..."). A peer that dies or stops
// answering surfaces as kCommunication on the others after RingDesc::timeout; MPI errors come
// back as kCommunication too (the ring runs on its own duplicate of the communicator with
// MPI_ERRORS_RETURN). After a kCommunication error the communicator cannot be trusted: end the
// job (MPI_Abort).
//
// Transport: each step's K/V shard is copied to host memory and sent with non-blocking
// MPI_Isend/MPI_Irecv while the device attends to the shard in hand; the next shard is uploaded
// when it has arrived. last_timings() reports, per step, the plans created (the first call; the
// ring keeps its plans for later calls), the device time, the time spent waiting
// for the next shard after it, and the copies. The backward sums each pair's dQ, dK and dV in
// fp32 on the device and sends dK/dV on as fp32. Buffers of K and V need
// VK_BUFFER_USAGE_TRANSFER_SRC_BIT (they are copied), those of dQ, dK and dV
// VK_BUFFER_USAGE_STORAGE_BUFFER_BIT (a compute pass writes the sums into them), and dsinks'
// VK_BUFFER_USAGE_TRANSFER_DST_BIT (vkattn::Tensor has all three).
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "vkattn/attention.hpp"
#include "vkattn/backward.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

enum class RingSharding : std::uint32_t { kContiguous = 0, kZigzag = 1 };

struct RingDesc {
  // One rank's problem: dtype, batch, heads, head dims, mask, score_mod and scale. seq_q and
  // seq_k are this rank's shard length (ring_shard_length), or 0 to take it from the sharding.
  AttentionDesc attention;
  std::int64_t seq_total = 0;  // S: tokens of the whole sequence (queries = keys)
  RingSharding sharding = RingSharding::kContiguous;
  std::chrono::milliseconds timeout{60000};  // how long to wait for a peer before kCommunication
};

// Positions [global_start, global_start + length) of the whole sequence, held at rows
// [local_start, local_start + length) of a rank's shard.
struct ShardPiece {
  std::int64_t global_start = 0;
  std::int64_t local_start = 0;
  std::int64_t length = 0;
};
std::vector<ShardPiece> ring_shard_pieces(RingSharding sharding, std::int64_t seq_total, int ranks, int rank);
std::int64_t ring_shard_length(RingSharding sharding, std::int64_t seq_total, int ranks, int rank);

// This rank's shards; [B, H, S_r, D] views as for ForwardTensors (any strides, D contiguous).
struct RingForwardTensors {
  TensorView q, k, v;
  TensorView o;    // written
  TensorView lse;  // fp32 [B, Hq, S_r], written (the backward needs it)
  std::optional<TensorView> alibi_slopes, rel_pos_table, sinks;  // as ForwardTensors
};

struct RingBackwardTensors {
  TensorView q, k, v, o, lse, d_o;  // o and lse as the ring forward wrote them
  TensorView dq, dk, dv;            // written
  std::optional<TensorView> alibi_slopes, rel_pos_table;
  // With desc.attention.score_mod.sinks: `dsinks` (fp32 [Hq], dense), if given, receives the sink
  // logits' gradient over the whole sequence, the same on every rank (each rank's rows are summed
  // on its device, then the ranks' sums are added in rank order: deterministic); `sinks` are the
  // logits the forward took, needed with it.
  std::optional<TensorView> sinks, dsinks;
};

struct RingStepTiming {
  double setup_s = 0;    // plans created for this step (the first call; later calls reuse them)
  double compute_s = 0;  // device work on the shard in hand (submit to fence), without setup_s
  double wait_s = 0;     // waiting for the next shard after the device work was done
  double copy_s = 0;     // copies of shards and accumulators (host <-> device and on the device),
                         // and the backward's write-out of its sums
};

class RingAttention {
 public:
  // Collective over `comm`: checks `desc` locally, then that every rank's desc agrees (shapes,
  // dtype, mask, score_mod, sharding, timeout) and that each rank's shard length is its own.
  static Result<RingAttention> create(Context& ctx, MPI_Comm comm, const RingDesc& desc);
  RingAttention(RingAttention&&) noexcept;
  RingAttention& operator=(RingAttention&&) noexcept;
  ~RingAttention();  // frees the duplicated communicator (MPI_Comm_free: call before MPI_Finalize)

  int rank() const;
  int ranks() const;
  const RingDesc& desc() const;  // with seq_q and seq_k filled in
  std::vector<ShardPiece> pieces() const;

  // Collective. O and LSE of this rank's queries against the whole sequence.
  Status forward(const RingForwardTensors& t);
  // Collective. dQ of this rank's queries and dK, dV of this rank's keys, over the whole sequence.
  Status backward(const RingBackwardTensors& t);

  // The last call's steps (P of them; the backward's last entry includes returning dK/dV home).
  const std::vector<RingStepTiming>& last_timings() const;

  // As ForwardPlan::release_descriptor_sets, for every plan and kernel the ring keeps: call it on
  // this rank after destroying a buffer the ring's calls were given, before the next call (calls
  // are synchronous, so nothing they recorded is still executing). Local: no other rank is
  // involved.
  void release_descriptor_sets();

 private:
  struct Impl;
  explicit RingAttention(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkattn
