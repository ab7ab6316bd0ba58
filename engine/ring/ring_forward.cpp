// RingAttention's forward: the K/V shards walk the ring; this rank's query pieces attend to each
// shard's key pieces as partial attention at global positions, merged exactly into O and LSE.
#include <optional>
#include <string>
#include <vector>

#include "ring/mpi_progress.hpp"
#include "ring/ring_impl.hpp"

namespace vkattn {

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
  std::optional<ring_detail::MpiProgressWhileWaiting> progress;  // a ring of one sends nothing
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
        ft.q = row_range(t.q, qp.local_start, qp.length);
        ft.k = row_range(k_all, kp.local_start, kp.length);
        ft.v = row_range(v_all, kp.local_start, kp.length);
        ft.alibi_slopes = t.alibi_slopes, ft.rel_pos_table = t.rel_pos_table;
        if (a.score_mod.sinks && first) ft.sinks = t.sinks;
        const TensorView o_rows = row_range(t.o, qp.local_start, qp.length);
        const TensorView lse_rows = row_range(t.lse, qp.local_start, qp.length);
        if (first) {  // the piece's first result goes straight to O and LSE
          ft.o = o_rows, ft.lse = lse_rows;
          VKATTN_TRY((*plan)->run(ft));
          started[qi] = true;
          continue;
        }
        ft.o = TensorView::contiguous(o_part->buffer(), o_part->size_bytes(), a.dtype,
                                      {a.batch, a.q_heads, qp.length, dv});
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

Result<MergePlan*> RingAttention::Impl::merge_plan(std::int64_t length, double& setup) {
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

}  // namespace vkattn
