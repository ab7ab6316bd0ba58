// Ring attention (vkattn/ring.hpp): the forward walks the K/V shards around the ring, attending
// this rank's query pieces to each shard's key pieces as partial attention (mask offsets =
// global positions) and merging the partial (O, LSE) exactly; the backward walks them again with
// dK/dV accumulators, summing every pair's gradients in fp32 on the device in a fixed order
// (deterministic).
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "kernels/kernel.hpp"  // compute_barrier
#include "plans/run_isolated.hpp"
#include "ring/ring_comm.hpp"
#include "ring/row_add.hpp"
#include "ring/view_copy.hpp"
#include "vkattn/context.hpp"
#include "vkattn/merge.hpp"
#include "vkattn/ring.hpp"

namespace vkattn {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// For the length of a ring call: MPI progress while the context waits for the GPU, so that the
// shards posted before a step's compute really travel during it (QueueSubmitter::set_wait_hook).
// Polled only from the calling thread (MPI may be initialized without thread support).
class MpiProgressWhileWaiting {
 public:
  MpiProgressWhileWaiting(Context& ctx, RingComm& comm) : queue_(*context_state(ctx).queue) {
    queue_.set_wait_hook([&comm, caller = std::this_thread::get_id()] {
      return std::this_thread::get_id() == caller && comm.progress();
    });
  }
  MpiProgressWhileWaiting(const MpiProgressWhileWaiting&) = delete;
  MpiProgressWhileWaiting& operator=(const MpiProgressWhileWaiting&) = delete;
  ~MpiProgressWhileWaiting() { queue_.set_wait_hook({}); }

 private:
  QueueSubmitter& queue_;
};

// Rows [s0, s0 + len) of a [B, H, S, ...] view (axis 2).
TensorView rows(TensorView v, std::int64_t s0, std::int64_t len) {
  v.offset += static_cast<VkDeviceSize>(s0 * v.strides[2]) * dtype_size(v.dtype);
  v.shape[2] = len;
  return v;
}

// Whether some query of global positions [q0, q0 + qn) sees some key of [k0, k0 + kn) under the
// mask (self-attention over global positions: causal k <= q, window q - left <= k <= q + right).
bool pair_visible(const Mask& m, std::int64_t q0, std::int64_t qn, std::int64_t k0, std::int64_t kn) {
  std::int64_t lo = q0, hi = q0 + qn - 1;  // queries that may see the key range
  if (m.causal) lo = std::max(lo, k0);
  if (m.window_right) lo = std::max(lo, k0 - *m.window_right);
  if (m.window_left) hi = std::min(hi, k0 + kn - 1 + *m.window_left);
  return lo <= hi;
}

// Doubles as f32 bytes.
std::vector<std::byte> f32_bytes(const std::vector<double>& v) {
  std::vector<std::byte> out(v.size() * sizeof(float));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const float f = static_cast<float>(v[i]);
    std::memcpy(out.data() + sizeof(float) * i, &f, sizeof(float));
  }
  return out;
}

// The desc fields every rank must agree on, and their names for the error.
const char* const kAgreedNames[] = {
    "attention.dtype", "attention.batch", "attention.q_heads", "attention.kv_heads", "attention.head_dim",
    "attention.head_dim_v", "attention.mask.causal", "attention.mask.window_left", "attention.mask.window_right",
    "attention.score_mod.softcap", "attention.score_mod.alibi", "attention.score_mod.rel_pos_max_distance",
    "attention.score_mod.sinks", "attention.scale", "seq_total", "sharding", "timeout (ms)", "attention.seq_q",
    "attention.seq_k", "attention.path"};

std::vector<std::int64_t> agreed_fields(const RingDesc& d) {
  const AttentionDesc& a = d.attention;
  const auto opt = [](const std::optional<std::int64_t>& v) { return v ? *v : -1; };
  const auto optf = [](const std::optional<float>& v) {
    return v ? static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(*v)) : -1;
  };
  return {static_cast<std::int64_t>(a.dtype), a.batch, a.q_heads, a.kv_heads == 0 ? a.q_heads : a.kv_heads,
          a.head_dim, a.head_dim_v == 0 ? a.head_dim : a.head_dim_v, a.mask.causal ? 1 : 0, opt(a.mask.window_left),
          opt(a.mask.window_right), optf(a.score_mod.softcap), static_cast<std::int64_t>(a.score_mod.alibi),
          opt(a.score_mod.rel_pos_max_distance), a.score_mod.sinks ? 1 : 0, optf(a.scale), d.seq_total,
          static_cast<std::int64_t>(d.sharding), static_cast<std::int64_t>(d.timeout.count()), a.seq_q, a.seq_k,
          static_cast<std::int64_t>(a.path)};
}

// Field f of agreed_fields as a user wrote it: floats (stored as their bits) as numbers, unset
// optionals as "unset".
std::string agreed_text(std::size_t f, std::int64_t v) {
  const std::string name = kAgreedNames[f];
  const bool optional = name == "attention.mask.window_left" || name == "attention.mask.window_right" ||
                        name == "attention.score_mod.rel_pos_max_distance" || name == "attention.score_mod.softcap" ||
                        name == "attention.scale";
  if (optional && v == -1) return "unset";
  if (name == "attention.score_mod.softcap" || name == "attention.scale") {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(v))));
    return text;
  }
  return num(v);
}

// What a shard problem may not use (ring.hpp), and the lengths; "" if fine.
Status check_local(const RingDesc& d, int ranks, int rank) {
  const AttentionDesc& a = d.attention;
  if (d.sharding != RingSharding::kContiguous && d.sharding != RingSharding::kZigzag) {
    return invalid("desc.sharding = " + num(static_cast<std::int64_t>(d.sharding)) + " is not a RingSharding value");
  }
  const std::int64_t chunks = d.sharding == RingSharding::kZigzag ? 2 * ranks : ranks;
  if (d.seq_total < chunks || d.seq_total > (std::int64_t{1} << 28)) {
    return invalid("desc.seq_total = " + num(d.seq_total) + " (must be in [" + num(chunks) +
                   ", 2^28]: every one of the " + num(chunks) + " chunks needs a token)");
  }
  if (d.timeout.count() <= 0) return invalid("desc.timeout = " + num(d.timeout.count()) + " ms (must be > 0)");
  const std::int64_t len = ring_shard_length(d.sharding, d.seq_total, ranks, rank);
  if (a.seq_q != 0 && a.seq_q != len) {
    return invalid("desc.attention.seq_q = " + num(a.seq_q) + ", but this rank's shard holds " + num(len) + " tokens");
  }
  if (a.seq_k != 0 && a.seq_k != len) {
    return invalid("desc.attention.seq_k = " + num(a.seq_k) + ", but this rank's shard holds " + num(len) + " tokens");
  }
  if (a.sequences.padded() || a.sequences.varlen()) {
    return invalid("desc.attention.sequences: padding and varlen do not shard over a ring");
  }
  if (a.paged_kv.enabled()) return invalid("desc.attention.paged_kv: a paged cache does not shard over a ring");
  if (a.dtype == DType::kBF16) {
    return invalid("desc.attention.dtype = bf16: the ring takes f32 or f16 (the running O is stored in the call's "
                   "dtype at every step's merge, and so is each pair's gradient before it is summed: bf16 would "
                   "lose 8 bits each time)");
  }
  if (a.score_mod.bias) return invalid("desc.attention.score_mod.bias: a bias tensor is indexed per shard, not by position");
  if (a.mask.documents) return invalid("desc.attention.mask.documents: document ids do not shard over a ring");
  if (a.qk.enabled()) {
    return invalid("desc.attention.qk: the ring takes Q and K as given (apply QKTransformPlan to each shard first)");
  }
  if (a.dropout.enabled()) {
    return invalid("desc.attention.dropout.p = " + num_real(a.dropout.p) +
                   ": the ring does not take dropout (its mask is keyed by positions within each call)");
  }
  if (a.mask.q_offset != 0 || a.mask.k_offset != 0) {
    return invalid("desc.attention.mask.q_offset / k_offset: the ring sets the offsets itself");
  }
  return Status::ok();
}

}  // namespace

struct RingAttention::Impl {
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
  Status make_accumulators() {
    if (in_dv) return Status::ok();
    const AttentionDesc& a = desc.attention;
    std::optional<Tensor> acc[5];
    const std::int64_t widths[5] = {a.head_dim, a.head_dim, dv, a.head_dim, dv};
    for (int i = 0; i < 5; ++i) {
      Result<Tensor> t = Tensor::create(*ctx, DType::kF32, {a.batch, i == 0 ? a.q_heads : kv_heads, max_len, widths[i]});
      if (!t) return t.status();
      acc[i].emplace(std::move(t).value());
    }
    std::optional<RowAdd> adds[6];
    for (int i = 0; i < 6; ++i) {
      const std::int64_t width = i % 2 == 0 ? a.head_dim : dv;
      Result<RowAdd> add = i < 2   ? RowAdd::create(*ctx, a.dtype, DType::kF32, width, true)
                           : i < 4 ? RowAdd::create(*ctx, DType::kF32, a.dtype, width, false)
                                   : RowAdd::create(*ctx, DType::kF32, DType::kF32, width, true);
      if (!add) return add.status();
      adds[i].emplace(std::move(add).value());
    }
    dq_acc = std::move(acc[0]), dk_acc = std::move(acc[1]), dv_acc = std::move(acc[2]);
    dk_in = std::move(acc[3]), dv_in = std::move(acc[4]);
    sum_dk = std::move(adds[0]), sum_dv = std::move(adds[1]), write_dk = std::move(adds[2]);
    write_dv = std::move(adds[3]), in_dk = std::move(adds[4]), in_dv = std::move(adds[5]);
    return Status::ok();
  }
  // The sums' views, checked before anything travels: a pair's parts into the accumulators (the
  // longest piece, so every pair's rows fit one binding) and the sums out into the caller's dq,
  // dk and dv (named in the messages).
  Status check_sums(const RingBackwardTensors& t) const {
    const std::int64_t piece = max_piece, S_me = len_of(comm.rank());
    VKATTN_TRY(sum_dk->validate(dq_part->view(), rows(dq_acc->view(), 0, piece), "dq_part", "dq_sums"));
    VKATTN_TRY(sum_dk->validate(dk_part->view(), rows(dk_acc->view(), 0, piece), "dk_part", "dk_sums"));
    VKATTN_TRY(sum_dv->validate(dv_part->view(), rows(dv_acc->view(), 0, piece), "dv_part", "dv_sums"));
    VKATTN_TRY(write_dk->validate(rows(dq_acc->view(), 0, S_me), t.dq, "dq_sums", "dq"));
    VKATTN_TRY(write_dk->validate(rows(dk_acc->view(), 0, S_me), t.dk, "dk_sums", "dk"));
    VKATTN_TRY(in_dk->validate(dk_in->view(), dk_acc->view(), "dk_in", "dk_sums"));
    VKATTN_TRY(in_dv->validate(dv_in->view(), dv_acc->view(), "dv_in", "dv_sums"));
    return write_dv->validate(rows(dv_acc->view(), 0, S_me), t.dv, "dv_sums", "dv");
  }
  // Zeroes `tensors` (the whole buffers).
  Status zero(std::initializer_list<const std::optional<Tensor>*> tensors) {
    return ctx->submit_and_wait([&](VkCommandBuffer cmd) {
      for (const std::optional<Tensor>* t : tensors) {
        vkCmdFillBuffer(cmd, (*t)->buffer(), 0, VK_WHOLE_SIZE, 0u);
      }
      VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0,
                           nullptr, 0, nullptr);
    });
  }
  // next_dkv (the fp32 dK, then dV, of rank r's shard) into rows [0, len_of(r)) of dk_to, dv_to.
  Status scatter_received_sums(int r, const Tensor& dk_to, const Tensor& dv_to) {
    const auto split = static_cast<std::size_t>(kv_elems(r, desc.attention.head_dim)) * sizeof(float);
    const std::span<const std::byte> bytes(next_dkv);
    VKATTN_TRY(scatter_rows(*ctx, dk_to.view(), 0, len_of(r), staging, bytes.first(split)));
    return scatter_rows(*ctx, dv_to.view(), 0, len_of(r), staging, bytes.subspan(split));
  }
  // The dK/dV sums the shard of rank `r` brought (next_dkv: the ranks before this one) into
  // dk_in, dv_in, then added to this rank's own (dk_acc, dv_acc).
  Status receive_sums(int r) {
    const std::int64_t len = len_of(r);
    VKATTN_TRY(scatter_received_sums(r, *dk_in, *dv_in));
    const TensorView dk_from = rows(dk_in->view(), 0, len), dk_to = rows(dk_acc->view(), 0, len);
    const TensorView dv_from = rows(dv_in->view(), 0, len), dv_to = rows(dv_acc->view(), 0, len);
    VKATTN_TRY(in_dk->reserve(dk_from, dk_to));
    VKATTN_TRY(in_dv->reserve(dv_from, dv_to));
    return run_isolated(*ctx, [&](VkCommandBuffer cmd) -> Status {
      VKATTN_TRY(in_dk->record(cmd, dk_from, dk_to));
      return in_dv->record(cmd, dv_from, dv_to);
    });
  }
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
  std::string failed;  // why the ring is unusable ("" while it is fine)

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
  std::optional<Tensor> dsinks_part;           // one pair's dsinks: [Hq] fp32
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
  Result<MergePlan*> merge_plan(std::int64_t length, double& setup) {
    auto it = merge_plans.find(length);
    if (it == merge_plans.end()) {
      const Clock::time_point t0 = Clock::now();
      const AttentionDesc& a = desc.attention;
      MergeDesc md;
      md.dtype = md.part_dtype = a.dtype;
      md.batch = a.batch, md.heads = a.q_heads, md.seq = length, md.head_dim_v = dv;
      md.accumulate = true;
      Result<MergePlan> merge = MergePlan::create(*ctx, md);
      if (!merge) return merge.status();
      it = merge_plans.emplace(length, std::move(merge).value()).first;
      setup += seconds_since(t0);
    }
    return &it->second;
  }

  Status forward(const RingForwardTensors& t);
  Status backward(const RingBackwardTensors& t);
  // The backward's dsinks: this rank's row sums `mine` added to every other rank's, into `out`.
  Status write_dsinks(const TensorView& out, const std::vector<double>& mine);
};

Status RingAttention::Impl::forward(const RingForwardTensors& t) {
  const AttentionDesc& a = desc.attention;
  const int P = comm.ranks(), me = comm.rank();
  // Local checks of the tensors (the whole-shard plan's own validation), then agreement.
  Status local = [&]() -> Status {
    if (!whole_fwd) {
      Result<ForwardPlan> plan = ForwardPlan::create(*ctx, shard_desc());
      if (!plan) return plan.status();
      whole_fwd.emplace(std::move(plan).value());
    }
    ForwardTensors ft{t.q, t.k, t.v, t.o, t.lse};
    ft.alibi_slopes = t.alibi_slopes, ft.rel_pos_table = t.rel_pos_table, ft.sinks = t.sinks;
    return whole_fwd->validate(ft);
  }();
  VKATTN_TRY(comm.agree(local, "forward: tensor checks"));
  std::optional<MpiProgressWhileWaiting> progress;  // a ring of one sends nothing
  if (P > 1) progress.emplace(*ctx, comm);
  timings.assign(static_cast<std::size_t>(P), {});

  Clock::time_point t0 = Clock::now();
  VKATTN_TRY(load_own_kv(t.k, t.v));
  timings[0].copy_s += seconds_since(t0);

  const std::vector<ShardPiece> mine = pieces_of(me);
  std::vector<bool> started(mine.size(), false);  // O and LSE of the piece hold a result

  for (int s = 0; s < P; ++s) {
    RingStepTiming& tm = timings[static_cast<std::size_t>(s)];
    const int src = (me - s + P) % P;
    if (s + 1 < P) {  // the next shard travels while this one is attended
      const int nsrc = (me - s - 1 + P) % P;
      next_k.resize(kv_elems(nsrc, a.head_dim) * dtype_size(a.dtype));  // received whole
      next_v.resize(kv_elems(nsrc, dv) * dtype_size(a.dtype));
      VKATTN_TRY(exchange({&cur_k, &cur_v}, {&next_k, &next_v}, "K/V"));
    }
    Clock::time_point c0 = Clock::now();
    double setup = 0;  // plan creation inside this step (first call), kept out of compute_s
    const std::vector<ShardPiece> theirs = pieces_of(src);
    const TensorView k_all = kv_view(*kv_k, src, a.head_dim), v_all = kv_view(*kv_v, src, dv);
    // At step 0 each query piece meets its own positions first (the diagonal is always visible).
    for (std::size_t qi = 0; qi < mine.size(); ++qi) {
      const ShardPiece& qp = mine[qi];
      for (std::size_t n = 0; n < theirs.size(); ++n) {
        const ShardPiece& kp = theirs[s == 0 ? (qi + n) % theirs.size() : n];
        if (!pair_visible(a.mask, qp.global_start, qp.length, kp.global_start, kp.length)) continue;
        const bool first = !started[qi];
        Result<ForwardPlan*> plan = cached(fwd_plans, qp, kp, a.score_mod.sinks && first, setup);
        if (!plan) return plan.status();
        ForwardTensors ft;
        ft.q = rows(t.q, qp.local_start, qp.length);
        ft.k = rows(k_all, kp.local_start, kp.length);
        ft.v = rows(v_all, kp.local_start, kp.length);
        ft.alibi_slopes = t.alibi_slopes, ft.rel_pos_table = t.rel_pos_table;
        if (a.score_mod.sinks && first) ft.sinks = t.sinks;
        const TensorView o_rows = rows(t.o, qp.local_start, qp.length);
        const TensorView lse_rows = rows(t.lse, qp.local_start, qp.length);
        if (first) {  // the piece's first result goes straight to O and LSE
          ft.o = o_rows, ft.lse = lse_rows;
          VKATTN_TRY((*plan)->run(ft));
          started[qi] = true;
          continue;
        }
        ft.o = TensorView::contiguous(o_part->buffer(), o_part->size_bytes(), a.dtype, {a.batch, a.q_heads, qp.length, dv});
        ft.lse = TensorView::contiguous(lse_part->buffer(), lse_part->size_bytes(), DType::kF32,
                                        {a.batch, a.q_heads, qp.length});
        VKATTN_TRY((*plan)->run(ft));
        Result<MergePlan*> merge = merge_plan(qp.length, setup);
        if (!merge) return merge.status();
        VKATTN_TRY((*merge)->run({ft.o, 0, *ft.lse, 0, o_rows, lse_rows}));
      }
    }
    tm.setup_s += setup;
    tm.compute_s += seconds_since(c0) - setup;
    if (s + 1 < P) {
      Clock::time_point w0 = Clock::now();
      VKATTN_TRY(comm.wait("forward step " + num(s) + ": the K/V shard of rank " + num((me - s - 1 + P) % P) +
                           " from rank " + num(comm.prev())));
      tm.wait_s += seconds_since(w0);
      Clock::time_point u0 = Clock::now();
      std::swap(cur_k, next_k);
      std::swap(cur_v, next_v);
      VKATTN_TRY(upload_kv((me - s - 1 + P) % P));
      tm.copy_s += seconds_since(u0);
    }
  }
  for (std::size_t qi = 0; qi < mine.size(); ++qi) {
    if (!started[qi]) return Status(ErrorCode::kInvalidArgument, "ring: a query piece saw no key shard");
  }
  return Status::ok();
}

Status RingAttention::Impl::backward(const RingBackwardTensors& t) {
  const AttentionDesc& a = desc.attention;
  const int P = comm.ranks(), me = comm.rank();
  // dsinks: the sink enters dQ, dK and dV only through LSE, so every pair runs without it; the
  // first pair of each query piece also reduces that piece's rows into dsinks.
  const bool want_dsinks = t.dsinks.has_value();
  Status local = [&]() -> Status {
    if ((t.sinks || t.dsinks) && !a.score_mod.sinks) {
      return invalid(std::string(t.sinks ? "sinks" : "dsinks") + " is given but desc.attention.score_mod.sinks is not set");
    }
    if (want_dsinks && !t.sinks) return invalid("dsinks is given without sinks (the logits the forward took)");
    AttentionDesc d = shard_desc();
    d.score_mod.sinks = false;
    if (!whole_bwd) {
      Result<BackwardPlan> plan = BackwardPlan::create(*ctx, d);
      if (!plan) return plan.status();
      whole_bwd.emplace(std::move(plan).value());
    }
    BackwardTensors bt;
    bt.q = t.q, bt.k = t.k, bt.v = t.v, bt.o = t.o, bt.d_o = t.d_o, bt.lse = t.lse;
    bt.dq = t.dq, bt.dk = t.dk, bt.dv = t.dv;
    bt.alibi_slopes = t.alibi_slopes, bt.rel_pos_table = t.rel_pos_table;
    VKATTN_TRY(whole_bwd->validate(bt));
    VKATTN_TRY(make_accumulators());
    VKATTN_TRY(check_sums(t));
    if (!want_dsinks) return Status::ok();
    if (!whole_bwd_sinks) {
      d.score_mod.sinks = true;
      Result<BackwardPlan> plan = BackwardPlan::create(*ctx, d);
      if (!plan) return plan.status();
      Result<Tensor> part = Tensor::create(*ctx, DType::kF32, {a.q_heads});
      if (!part) return part.status();
      dsinks_part.emplace(std::move(part).value());  // both or neither: whole_bwd_sinks is the flag
      whole_bwd_sinks.emplace(std::move(plan).value());
    }
    bt.sinks = t.sinks, bt.dsinks = t.dsinks;
    return whole_bwd_sinks->validate(bt);
  }();
  VKATTN_TRY(comm.agree(local, "backward: tensor checks"));
  std::optional<MpiProgressWhileWaiting> progress;  // a ring of one sends nothing
  if (P > 1) progress.emplace(*ctx, comm);
  // dsinks is written after a collective (write_dsinks): every rank asks for it, or none does.
  Result<std::vector<std::vector<std::int64_t>>> asked = comm.allgather({want_dsinks ? 1 : 0}, "backward: dsinks");
  if (!asked) return asked.status();
  const bool rank0_asks = (*asked)[0][0] != 0;
  for (int r = 1; r < comm.ranks(); ++r) {
    if (((*asked)[static_cast<std::size_t>(r)][0] != 0) != rank0_asks) {
      return invalid("ring: rank " + num(r) + (rank0_asks ? " gives no dsinks, rank 0 does" : " gives dsinks, rank 0 does not") +
                     " (every rank passes dsinks or none does)");
    }
  }
  timings.assign(static_cast<std::size_t>(P), {});
  const std::int64_t B = a.batch, Hq = a.q_heads, Dk = a.head_dim, S_me = len_of(me);

  Clock::time_point t0 = Clock::now();
  VKATTN_TRY(load_own_kv(t.k, t.v));
  timings[0].copy_s += seconds_since(t0);
  // Gradients summed in fp32 on the device, pair by pair in a fixed order: dQ of this rank's
  // rows; dK and dV of the shard in hand, which travel with it (as fp32 bytes). The sums a shard
  // brings travel while this rank computes its own (from zero); the two are added after (the
  // same order on every call, so the same bits).
  VKATTN_TRY(zero({&dq_acc, &dk_acc, &dv_acc}));
  const std::vector<ShardPiece> mine = pieces_of(me);
  std::vector<bool> sinks_done(mine.size(), false);  // the query piece's rows are in dsinks_sum
  std::vector<double> dsinks_sum(want_dsinks ? static_cast<std::size_t>(Hq) : 0, 0.0);

  for (int s = 0; s < P; ++s) {
    RingStepTiming& tm = timings[static_cast<std::size_t>(s)];
    const int src = (me - s + P) % P;
    const int nsrc = (me - s - 1 + P) % P;
    if (s + 1 < P) {
      next_k.resize(kv_elems(nsrc, Dk) * dtype_size(a.dtype));  // received whole
      next_v.resize(kv_elems(nsrc, dv) * dtype_size(a.dtype));
      VKATTN_TRY(exchange({&cur_k, &cur_v}, {&next_k, &next_v}, "K/V"));
    }
    if (s > 0) {  // this rank's sums over the new shard start from zero
      Clock::time_point z0 = Clock::now();
      VKATTN_TRY(zero({&dk_acc, &dv_acc}));
      tm.copy_s += seconds_since(z0);
    }
    Clock::time_point c0 = Clock::now();
    double setup = 0;
    const std::vector<ShardPiece> theirs = pieces_of(src);
    const std::int64_t S_src = len_of(src);
    const TensorView k_all = kv_view(*kv_k, src, Dk), v_all = kv_view(*kv_v, src, dv);
    for (std::size_t qi = 0; qi < mine.size(); ++qi) {
      const ShardPiece& qp = mine[qi];
      for (const ShardPiece& kp : theirs) {
        if (!pair_visible(a.mask, qp.global_start, qp.length, kp.global_start, kp.length)) continue;
        const bool sinks_here = want_dsinks && !sinks_done[qi];
        Result<BackwardPlan*> plan = cached(bwd_plans, qp, kp, sinks_here, setup);
        if (!plan) return plan.status();
        BackwardTensors bt;
        bt.q = rows(t.q, qp.local_start, qp.length);
        bt.o = rows(t.o, qp.local_start, qp.length);
        bt.d_o = rows(t.d_o, qp.local_start, qp.length);
        bt.lse = rows(t.lse, qp.local_start, qp.length);
        bt.k = rows(k_all, kp.local_start, kp.length);
        bt.v = rows(v_all, kp.local_start, kp.length);
        bt.dq = TensorView::contiguous(dq_part->buffer(), dq_part->size_bytes(), a.dtype, {B, Hq, qp.length, Dk});
        bt.dk = TensorView::contiguous(dk_part->buffer(), dk_part->size_bytes(), a.dtype, {B, kv_heads, kp.length, Dk});
        bt.dv = TensorView::contiguous(dv_part->buffer(), dv_part->size_bytes(), a.dtype, {B, kv_heads, kp.length, dv});
        bt.alibi_slopes = t.alibi_slopes, bt.rel_pos_table = t.rel_pos_table;
        if (sinks_here) bt.sinks = t.sinks, bt.dsinks = dsinks_part->view();
        // The pair's gradients, then their sums, in one submission (sets reserved first).
        const TensorView dq_sum = rows(dq_acc->view(), qp.local_start, qp.length);
        const TensorView dk_sum = rows(dk_acc->view(), kp.local_start, kp.length);
        const TensorView dv_sum = rows(dv_acc->view(), kp.local_start, kp.length);
        VKATTN_TRY(sum_dk->reserve(bt.dq, dq_sum));
        VKATTN_TRY(sum_dk->reserve(bt.dk, dk_sum));
        VKATTN_TRY(sum_dv->reserve(bt.dv, dv_sum));
        const Status summed = run_isolated(*ctx, [&](VkCommandBuffer cmd) -> Status {
          VKATTN_TRY((*plan)->record(cmd, bt));
          compute_barrier(cmd);
          VKATTN_TRY(sum_dk->record(cmd, bt.dq, dq_sum));
          VKATTN_TRY(sum_dk->record(cmd, bt.dk, dk_sum));
          return sum_dv->record(cmd, bt.dv, dv_sum);
        });
        if (!summed) return summed;
        if (sinks_here) {
          Result<std::vector<float>> part = dsinks_part->download();
          if (!part) return part.status();
          for (std::size_t h = 0; h < dsinks_sum.size(); ++h) dsinks_sum[h] += (*part)[h];
          sinks_done[qi] = true;
        }
      }
    }
    tm.setup_s += setup;
    tm.compute_s += seconds_since(c0) - setup;
    if (P > 1) {
      // The next K/V shard, and the sums this shard brought (posted at the end of step s - 1).
      Clock::time_point w0 = Clock::now();
      std::string what = "backward step " + num(s) + ":";
      if (s + 1 < P) what += " K/V of rank " + num(nsrc);
      if (s > 0) what += std::string(s + 1 < P ? " and" : "") + " dK/dV of rank " + num(src);
      VKATTN_TRY(comm.wait(what + " from rank " + num(comm.prev())));
      tm.wait_s += seconds_since(w0);
      Clock::time_point d0 = Clock::now();
      if (s > 0) {  // step 0's shard is this rank's own: it brings nothing
        VKATTN_TRY(receive_sums(src));
      }
      // This shard's dK/dV go on with it (after step P - 1: home to their owner, the next rank),
      // while the next step computes.
      const std::size_t dk_bytes = dense_rows_bytes(dk_acc->view(), S_src);
      cur_dkv.resize(dk_bytes + dense_rows_bytes(dv_acc->view(), S_src));
      const std::span<std::byte> dkv(cur_dkv);
      VKATTN_TRY(gather_rows(*ctx, dk_acc->view(), 0, S_src, staging, dkv.first(dk_bytes)));
      VKATTN_TRY(gather_rows(*ctx, dv_acc->view(), 0, S_src, staging, dkv.subspan(dk_bytes)));
      next_dkv.resize((kv_elems(nsrc, Dk) + kv_elems(nsrc, dv)) * sizeof(float));  // received whole
      VKATTN_TRY(exchange({&cur_dkv}, {&next_dkv}, "dK/dV"));
      if (s + 1 < P) {
        std::swap(cur_k, next_k);
        std::swap(cur_v, next_v);
        VKATTN_TRY(upload_kv(nsrc));
      }
      tm.copy_s += seconds_since(d0);
    }
  }
  if (P > 1) {
    // This rank's own dK/dV, complete, home from the last rank to hold them (nothing to overlap).
    Clock::time_point w0 = Clock::now();
    VKATTN_TRY(comm.wait("backward: the dK/dV of rank " + num(me) + " home from rank " + num(comm.prev())));
    timings.back().wait_s += seconds_since(w0);
    Clock::time_point d0 = Clock::now();
    VKATTN_TRY(scatter_received_sums(me, *dk_acc, *dv_acc));
    timings.back().copy_s += seconds_since(d0);
  }
  // The accumulators now hold this rank's dQ and its own dK, dV (nsrc of the last step is this
  // rank): converted into the caller's tensors.
  Clock::time_point u0 = Clock::now();
  const TensorView dq_sums = rows(dq_acc->view(), 0, S_me), dk_sums = rows(dk_acc->view(), 0, S_me);
  const TensorView dv_sums = rows(dv_acc->view(), 0, S_me);
  VKATTN_TRY(write_dk->reserve(dq_sums, t.dq));
  VKATTN_TRY(write_dk->reserve(dk_sums, t.dk));
  VKATTN_TRY(write_dv->reserve(dv_sums, t.dv));
  const Status written = run_isolated(*ctx, [&](VkCommandBuffer cmd) -> Status {
    VKATTN_TRY(write_dk->record(cmd, dq_sums, t.dq));
    VKATTN_TRY(write_dk->record(cmd, dk_sums, t.dk));
    return write_dv->record(cmd, dv_sums, t.dv);
  });
  if (!written) return written;
  if (want_dsinks) VKATTN_TRY(write_dsinks(*t.dsinks, dsinks_sum));
  timings.back().copy_s += seconds_since(u0);
  return Status::ok();
}

Status RingAttention::Impl::write_dsinks(const TensorView& out, const std::vector<double>& mine) {
  // Every rank's sums (as bit patterns), added in rank order: the same bits on every rank.
  std::vector<std::int64_t> bits(mine.size());
  std::memcpy(bits.data(), mine.data(), mine.size() * sizeof(double));
  Result<std::vector<std::vector<std::int64_t>>> all = comm.allgather(bits, "backward: dsinks");
  if (!all) return all.status();
  std::vector<double> total(mine.size(), 0.0);
  for (const std::vector<std::int64_t>& r : *all) {
    for (std::size_t h = 0; h < total.size(); ++h) {
      double x = 0;
      std::memcpy(&x, &r[h], sizeof x);
      total[h] += x;
    }
  }
  // [Hq] as a [1, Hq, 1, 1] view for the row copy.
  TensorView v = out;
  v.rank = 4;
  v.shape = {1, out.shape[0], 1, 1};
  v.strides = {out.shape[0] * out.strides[0], out.strides[0], 1, 1};
  return scatter_rows(*ctx, v, 0, 1, staging, f32_bytes(total));
}

RingAttention::RingAttention(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RingAttention::RingAttention(RingAttention&&) noexcept = default;
RingAttention& RingAttention::operator=(RingAttention&&) noexcept = default;
RingAttention::~RingAttention() = default;

Result<RingAttention> RingAttention::create(Context& ctx, MPI_Comm comm, const RingDesc& desc) {
  Result<RingComm> c = RingComm::create(comm, desc.timeout.count() > 0 ? desc.timeout : std::chrono::milliseconds(60000));
  if (!c) return c.status();
  auto impl = std::make_unique<Impl>();
  impl->ctx = &ctx;
  impl->comm = std::move(c).value();
  impl->desc = desc;
  const int P = impl->comm.ranks(), me = impl->comm.rank();
  // 1. Each rank's own desc, 2. all descs agree, 3. the device buffers.
  Status local = check_local(desc, P, me);
  if (local) {
    AttentionDesc a = desc.attention;
    a.seq_q = a.seq_k = ring_shard_length(desc.sharding, desc.seq_total, P, me);
    local = ForwardPlan::create(ctx, a).status();  // the shard problem is one the engine takes
  }
  VKATTN_TRY(impl->comm.agree(local, "create: desc checks"));
  std::vector<std::int64_t> mine = agreed_fields(desc);
  const std::size_t lengths_at = mine.size() - 3;  // seq_q, seq_k: per rank
  Result<std::vector<std::vector<std::int64_t>>> all = impl->comm.allgather(mine, "create: desc agreement");
  if (!all) return all.status();
  for (int r = 1; r < P; ++r) {
    for (std::size_t f = 0; f < mine.size(); ++f) {
      if (f == lengths_at || f == lengths_at + 1) continue;
      const std::int64_t theirs = (*all)[static_cast<std::size_t>(r)][f], first = (*all)[0][f];
      if (theirs != first) {
        return invalid("ring: rank " + num(r) + " has desc." + kAgreedNames[f] + " = " + agreed_text(f, theirs) +
                       ", rank 0 has " + agreed_text(f, first) + " (every rank needs the same desc)");
      }
    }
  }
  RingDesc& d = impl->desc;
  d.attention.seq_q = d.attention.seq_k = ring_shard_length(d.sharding, d.seq_total, P, me);
  impl->kv_heads = d.attention.kv_heads == 0 ? d.attention.q_heads : d.attention.kv_heads;
  impl->dv = d.attention.head_dim_v == 0 ? d.attention.head_dim : d.attention.head_dim_v;
  for (int r = 0; r < P; ++r) {
    impl->max_len = std::max(impl->max_len, impl->len_of(r));
    for (const ShardPiece& p : impl->pieces_of(r)) impl->max_piece = std::max(impl->max_piece, p.length);
  }
  Status alloc = [&]() -> Status {
    Result<Tensor> k = Tensor::create(ctx, d.attention.dtype, {d.attention.batch, impl->kv_heads, impl->max_len, d.attention.head_dim});
    if (!k) return k.status();
    Result<Tensor> v = Tensor::create(ctx, d.attention.dtype, {d.attention.batch, impl->kv_heads, impl->max_len, impl->dv});
    if (!v) return v.status();
    impl->kv_k.emplace(std::move(k).value());
    impl->kv_v.emplace(std::move(v).value());
    const AttentionDesc& a = d.attention;
    const std::int64_t piece = impl->max_piece;
    for (const auto& [slot, dtype, shape] :
         {std::tuple{&impl->o_part, a.dtype, std::vector<std::int64_t>{a.batch, a.q_heads, piece, impl->dv}},
          std::tuple{&impl->lse_part, DType::kF32, std::vector<std::int64_t>{a.batch, a.q_heads, piece}},
          std::tuple{&impl->dq_part, a.dtype, std::vector<std::int64_t>{a.batch, a.q_heads, piece, a.head_dim}},
          std::tuple{&impl->dk_part, a.dtype, std::vector<std::int64_t>{a.batch, impl->kv_heads, piece, a.head_dim}},
          std::tuple{&impl->dv_part, a.dtype, std::vector<std::int64_t>{a.batch, impl->kv_heads, piece, impl->dv}}}) {
      Result<Tensor> t = Tensor::create(ctx, dtype, shape);
      if (!t) return t.status();
      slot->emplace(std::move(t).value());
    }
    return Status::ok();
  }();
  VKATTN_TRY(impl->comm.agree(alloc, "create: buffers"));
  return RingAttention(std::move(impl));
}

int RingAttention::rank() const { return impl_->comm.rank(); }
int RingAttention::ranks() const { return impl_->comm.ranks(); }
const RingDesc& RingAttention::desc() const { return impl_->desc; }
std::vector<ShardPiece> RingAttention::pieces() const { return impl_->pieces_of(impl_->comm.rank()); }
Status RingAttention::forward(const RingForwardTensors& t) {
  return impl_->guarded([&] { return impl_->forward(t); });
}
Status RingAttention::backward(const RingBackwardTensors& t) {
  return impl_->guarded([&] { return impl_->backward(t); });
}
const std::vector<RingStepTiming>& RingAttention::last_timings() const { return impl_->timings; }
void RingAttention::release_descriptor_sets() {
  Impl& m = *impl_;
  for (auto& [key, plan] : m.fwd_plans) plan.release_descriptor_sets();
  for (auto& [key, plan] : m.bwd_plans) plan.release_descriptor_sets();
  for (auto& [length, plan] : m.merge_plans) plan.release_descriptor_sets();
  for (std::optional<RowAdd>* add : {&m.sum_dk, &m.sum_dv, &m.write_dk, &m.write_dv, &m.in_dk, &m.in_dv}) {
    if (*add) (*add)->release_descriptor_sets();
  }
}

}  // namespace vkattn
