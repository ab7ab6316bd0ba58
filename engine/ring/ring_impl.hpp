// RingAttention's state between calls (RingAttention::Impl) and the helpers its forward
// (ring_forward.cpp) and backward (ring_backward.cpp) share. Private to the ring library.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "base/vk_util.hpp"  // VKATTN_TRY, invalid, num
#include "ring/ring_comm.hpp"
#include "ring/row_add.hpp"
#include "ring/view_copy.hpp"
#include "vkattn/context.hpp"
#include "vkattn/merge.hpp"
#include "vkattn/ring.hpp"

namespace vkattn {

struct RingAttention::Impl {
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  // Rows [s0, s0 + len) of a [B, H, S, ...] view (axis 2).
  static TensorView row_range(TensorView v, std::int64_t s0, std::int64_t len) {
    v.offset += static_cast<VkDeviceSize>(s0 * v.strides[2]) * dtype_size(v.dtype);
    v.shape[2] = len;
    return v;
  }

  // Whether some query of global positions [q0, q0 + qn) sees some key of [k0, k0 + kn) under the
  // mask (self-attention over global positions: causal k <= q, window q - left <= k <= q + right).
  static bool pair_visible(const Mask& m, std::int64_t q0, std::int64_t qn, std::int64_t k0, std::int64_t kn) {
    std::int64_t lo = q0, hi = q0 + qn - 1;  // queries that may see the key range
    if (m.causal) lo = std::max(lo, k0);
    if (m.window_right) lo = std::max(lo, k0 - *m.window_right);
    if (m.window_left) hi = std::min(hi, k0 + kn - 1 + *m.window_left);
    return lo <= hi;
  }

  Context* ctx = nullptr;
  RingDesc desc;
  RingComm comm;
  std::vector<RingStepTiming> timings;
  std::int64_t max_len = 0;    // the longest shard
  std::int64_t max_piece = 0;  // the longest piece
  std::int64_t kv_heads = 0, dv = 0;

  std::vector<ShardPiece> pieces_of(int r) const {
    return ring_shard_pieces(desc.sharding, desc.seq_total, comm.ranks(), r);
  }
  std::int64_t len_of(int r) const { return ring_shard_length(desc.sharding, desc.seq_total, comm.ranks(), r); }
  std::size_t kv_elems(int r, std::int64_t d) const {
    return static_cast<std::size_t>(desc.attention.batch * kv_heads * len_of(r) * d);
  }
  // The shard problem for query piece `qp` against key piece `kp` at global positions.
  AttentionDesc pair_desc(const ShardPiece& qp, const ShardPiece& kp, bool sinks) const {
    AttentionDesc a = desc.attention;
    a.seq_q = qp.length;
    a.seq_k = kp.length;
    a.mask.align = Align::kTopLeft;  // self-attention over global positions: both alignments agree
    a.mask.q_offset = qp.global_start;
    a.mask.k_offset = kp.global_start;
    a.score_mod.sinks = sinks;
    a.write_lse = true;
    return a;
  }
  AttentionDesc shard_desc() const {
    AttentionDesc a = desc.attention;
    a.seq_q = a.seq_k = len_of(comm.rank());
    a.write_lse = true;
    return a;
  }

  // The K/V shard in hand on the device: dense [B, Hkv, len, D] at the start of these tensors.
  std::optional<Tensor> kv_k, kv_v;
  // Per-piece scratch, sized for the longest piece: a partial O and LSE (forward), a pair's dQ,
  // dK, dV (backward). Made once by create().
  std::optional<Tensor> o_part, lse_part, dq_part, dk_part, dv_part;
  // The backward's fp32 sums on the device (made by its first call): dQ of this rank's rows, and
  // dK, dV of the shard in hand; the adds into them (dtype -> f32) and out of them (f32 -> dtype).
  // dk_acc, dv_acc hold this rank's own sums over the shard in hand; dk_in, dv_in the sums the
  // shard brought from the ranks before (received while this rank computed), added in after.
  std::optional<Tensor> dq_acc, dk_acc, dv_acc, dk_in, dv_in;
  std::optional<RowAdd> sum_dk, sum_dv;      // dtype -> f32 sums, Dk wide (dQ and dK) and Dv wide (dV)
  std::optional<RowAdd> write_dk, write_dv;  // f32 sums -> dtype
  std::optional<RowAdd> in_dk, in_dv;        // f32 -> f32 sums: the received into this rank's
  // Made together (a failure leaves none, and the next call tries again).
  Status make_accumulators();
  // The sums' views, checked before anything travels: a pair's parts into the accumulators (the
  // longest piece, so every pair's rows fit one binding) and the sums out into the caller's dq,
  // dk and dv (named in the messages).
  Status check_sums(const RingBackwardTensors& t) const;
  // Zeroes `tensors` (the whole buffers).
  Status zero(std::initializer_list<const std::optional<Tensor>*> tensors);
  // next_dkv (the fp32 dK, then dV, of rank r's shard) into rows [0, len_of(r)) of dk_to, dv_to.
  Status scatter_received_sums(int r, const Tensor& dk_to, const Tensor& dv_to);
  // The dK/dV sums the shard of rank `r` brought (next_dkv: the ranks before this one) into
  // dk_in, dv_in, then added to this rank's own (dk_acc, dv_acc).
  Status receive_sums(int r);
  // The shard of rank `r` from the host staging (cur_k, cur_v) into kv_k, kv_v.
  Status upload_kv(int r) {
    VKATTN_TRY(scatter_rows(*ctx, kv_view(*kv_k, r, desc.attention.head_dim), 0, len_of(r), staging, cur_k));
    return scatter_rows(*ctx, kv_view(*kv_v, r, dv), 0, len_of(r), staging, cur_v);
  }
  // This rank's own shard into kv_k, kv_v, on the device; into the host staging as well where
  // it travels on (more than one rank).
  Status load_own_kv(const TensorView& k, const TensorView& v) {
    const int me = comm.rank();
    VKATTN_TRY(copy_rows_dense(*ctx, k, 0, len_of(me), kv_k->buffer()));
    VKATTN_TRY(copy_rows_dense(*ctx, v, 0, len_of(me), kv_v->buffer()));
    if (comm.ranks() == 1) return Status::ok();
    const TensorView k_mine = kv_view(*kv_k, me, desc.attention.head_dim), v_mine = kv_view(*kv_v, me, dv);
    cur_k.resize(dense_rows_bytes(k_mine, len_of(me)));
    cur_v.resize(dense_rows_bytes(v_mine, len_of(me)));
    VKATTN_TRY(gather_rows(*ctx, k_mine, 0, len_of(me), staging, cur_k));
    return gather_rows(*ctx, v_mine, 0, len_of(me), staging, cur_v);
  }
  TensorView kv_view(const Tensor& t, int src, std::int64_t d) const {
    return TensorView::contiguous(t.buffer(), t.size_bytes(), desc.attention.dtype,
                                  {desc.attention.batch, kv_heads, len_of(src), d});
  }

  // Host staging of the shards and accumulators in flight. They belong to the ring, not to a
  // call: MPI may still read or write them after a call failed with requests posted.
  std::vector<std::byte> cur_k, cur_v, next_k, next_v, cur_dkv, next_dkv;
  HostStaging staging;  // between those and the device, kept from call to call
  std::string failed;   // why the ring is unusable ("" while it is fine)

  ~Impl() {
    // Requests still posted (a peer died): MPI may write into the staging later, so it is kept
    // for the life of the process rather than freed under it.
    if (comm.pending()) {
      static auto* kept = new std::vector<std::vector<std::byte>>();
      for (std::vector<std::byte>* b : {&cur_k, &cur_v, &next_k, &next_v, &cur_dkv, &next_dkv}) {
        kept->push_back(std::move(*b));
      }
    }
  }

  // K/V and dK/dV travel under their own tags; messages of one kind from one neighbour arrive in
  // the order they were sent (MPI's non-overtaking rule), so steps need no tag of their own.
  Status exchange(std::vector<const std::vector<std::byte>*> out, std::vector<std::vector<std::byte>*> in,
                  const char* what) {
    return comm.post(out, in, std::string(what) == "dK/dV" ? 1 : 0);
  }

  // A call that fails once requests are posted leaves them with MPI: the ring refuses further
  // calls (the job should end, ring.hpp).
  template <class Call>
  Status guarded(Call&& call) {
    if (!failed.empty()) {
      return Status(ErrorCode::kCommunication, "ring: unusable after an earlier failure: " + failed);
    }
    Status s = call();
    if (!s && comm.pending()) failed = s.message();
    return s;
  }

  // Plans kept across calls: a pair's desc depends only on its two pieces (and whether it carries
  // the sink), so each call after the first reuses them; their creation is the steps' setup_s.
  using PairKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool>;
  std::map<PairKey, ForwardPlan> fwd_plans;
  std::map<PairKey, BackwardPlan> bwd_plans;
  std::map<std::int64_t, MergePlan> merge_plans;  // by piece length
  std::optional<ForwardPlan> whole_fwd;           // the shard problem, to validate a call's tensors
  std::optional<BackwardPlan> whole_bwd;
  std::optional<BackwardPlan> whole_bwd_sinks;  // validates sinks and dsinks (RingBackwardTensors)
  std::optional<Tensor> dsinks_part;            // one pair's dsinks: [Hq] fp32
  static PairKey key_of(const ShardPiece& qp, const ShardPiece& kp, bool sinks) {
    return {qp.global_start, qp.length, kp.global_start, kp.length, sinks};
  }
  // The pair's plan, created (and its time added to `setup`) on first use.
  template <class Plan>
  Result<Plan*> cached(std::map<PairKey, Plan>& plans, const ShardPiece& qp, const ShardPiece& kp, bool sinks,
                       double& setup) {
    const PairKey key = key_of(qp, kp, sinks);
    auto it = plans.find(key);
    if (it == plans.end()) {
      const Clock::time_point t0 = Clock::now();
      Result<Plan> plan = Plan::create(*ctx, pair_desc(qp, kp, sinks));
      if (!plan) return plan.status();
      it = plans.emplace(key, std::move(plan).value()).first;
      setup += seconds_since(t0);
    }
    return &it->second;
  }
  Result<MergePlan*> merge_plan(std::int64_t length, double& setup);

  Status forward(const RingForwardTensors& t);
  Status backward(const RingBackwardTensors& t);
  // The backward's dsinks: this rank's row sums `mine` added to every other rank's, into `out`.
  Status write_dsinks(const TensorView& out, const std::vector<double>& mine);
};

}  // namespace vkattn
