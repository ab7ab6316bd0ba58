// RingAttention's backward: the K/V shards walk the ring again with their dK/dV sums; every pair
// of pieces adds its gradients into fp32 sums on the device in a fixed order (deterministic).
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernels/kernel.hpp"  // compute_barrier
#include "plans/run_isolated.hpp"
#include "ring/mpi_progress.hpp"
#include "ring/ring_impl.hpp"

namespace vkattn {
namespace {

// Doubles as f32 bytes.
std::vector<std::byte> f32_bytes(const std::vector<double>& v) {
  std::vector<std::byte> out(v.size() * sizeof(float));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const float f = static_cast<float>(v[i]);
    std::memcpy(out.data() + sizeof(float) * i, &f, sizeof(float));
  }
  return out;
}

}  // namespace

Status RingAttention::Impl::backward(const RingBackwardTensors& t) {
  const AttentionDesc& a = desc.attention;
  const int P = comm.ranks(), me = comm.rank();
  // dsinks: the sink enters dQ, dK and dV only through LSE, so every pair runs without it; the
  // first pair of each query piece also reduces that piece's rows into dsinks.
  const bool want_dsinks = t.dsinks.has_value();
  Status local = [&]() -> Status {
    if ((t.sinks || t.dsinks) && !a.score_mod.sinks) {
      return invalid(std::string(t.sinks ? "sinks" : "dsinks") +
                     " is given but desc.attention.score_mod.sinks is not set");
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
  std::optional<ring_detail::MpiProgressWhileWaiting> progress;  // a ring of one sends nothing
  if (P > 1) progress.emplace(*ctx, comm);
  // dsinks is written after a collective (write_dsinks): every rank asks for it, or none does.
  Result<std::vector<std::vector<std::int64_t>>> asked = comm.allgather({want_dsinks ? 1 : 0}, "backward: dsinks");
  if (!asked) return asked.status();
  const bool rank0_asks = (*asked)[0][0] != 0;
  for (int r = 1; r < comm.ranks(); ++r) {
    if (((*asked)[static_cast<std::size_t>(r)][0] != 0) != rank0_asks) {
      return invalid("ring: rank " + num(r) +
                     (rank0_asks ? " gives no dsinks, rank 0 does" : " gives dsinks, rank 0 does not") +
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
        bt.q = row_range(t.q, qp.local_start, qp.length);
        bt.o = row_range(t.o, qp.local_start, qp.length);
        bt.d_o = row_range(t.d_o, qp.local_start, qp.length);
        bt.lse = row_range(t.lse, qp.local_start, qp.length);
        bt.k = row_range(k_all, kp.local_start, kp.length);
        bt.v = row_range(v_all, kp.local_start, kp.length);
        bt.dq = TensorView::contiguous(dq_part->buffer(), dq_part->size_bytes(), a.dtype, {B, Hq, qp.length, Dk});
        bt.dk = TensorView::contiguous(dk_part->buffer(), dk_part->size_bytes(), a.dtype, {B, kv_heads, kp.length, Dk});
        bt.dv = TensorView::contiguous(dv_part->buffer(), dv_part->size_bytes(), a.dtype, {B, kv_heads, kp.length, dv});
        bt.alibi_slopes = t.alibi_slopes, bt.rel_pos_table = t.rel_pos_table;
        if (sinks_here) bt.sinks = t.sinks, bt.dsinks = dsinks_part->view();
        // The pair's gradients, then their sums, in one submission (sets reserved first).
        const TensorView dq_sum = row_range(dq_acc->view(), qp.local_start, qp.length);
        const TensorView dk_sum = row_range(dk_acc->view(), kp.local_start, kp.length);
        const TensorView dv_sum = row_range(dv_acc->view(), kp.local_start, kp.length);
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
  const TensorView dq_sums = row_range(dq_acc->view(), 0, S_me), dk_sums = row_range(dk_acc->view(), 0, S_me);
  const TensorView dv_sums = row_range(dv_acc->view(), 0, S_me);
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

Status RingAttention::Impl::make_accumulators() {
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

Status RingAttention::Impl::check_sums(const RingBackwardTensors& t) const {
  const std::int64_t piece = max_piece, S_me = len_of(comm.rank());
  VKATTN_TRY(sum_dk->validate(dq_part->view(), row_range(dq_acc->view(), 0, piece), "dq_part", "dq_sums"));
  VKATTN_TRY(sum_dk->validate(dk_part->view(), row_range(dk_acc->view(), 0, piece), "dk_part", "dk_sums"));
  VKATTN_TRY(sum_dv->validate(dv_part->view(), row_range(dv_acc->view(), 0, piece), "dv_part", "dv_sums"));
  VKATTN_TRY(write_dk->validate(row_range(dq_acc->view(), 0, S_me), t.dq, "dq_sums", "dq"));
  VKATTN_TRY(write_dk->validate(row_range(dk_acc->view(), 0, S_me), t.dk, "dk_sums", "dk"));
  VKATTN_TRY(in_dk->validate(dk_in->view(), dk_acc->view(), "dk_in", "dk_sums"));
  VKATTN_TRY(in_dv->validate(dv_in->view(), dv_acc->view(), "dv_in", "dv_sums"));
  return write_dv->validate(row_range(dv_acc->view(), 0, S_me), t.dv, "dv_sums", "dv");
}

Status RingAttention::Impl::zero(std::initializer_list<const std::optional<Tensor>*> tensors) {
  return ctx->submit_and_wait([&](VkCommandBuffer cmd) {
    for (const std::optional<Tensor>* t : tensors) {
      vkCmdFillBuffer(cmd, (*t)->buffer(), 0, VK_WHOLE_SIZE, 0u);
    }
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                       VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0, nullptr,
                         0, nullptr);
  });
}

Status RingAttention::Impl::scatter_received_sums(int r, const Tensor& dk_to, const Tensor& dv_to) {
  const auto split = static_cast<std::size_t>(kv_elems(r, desc.attention.head_dim)) * sizeof(float);
  const std::span<const std::byte> bytes(next_dkv);
  VKATTN_TRY(scatter_rows(*ctx, dk_to.view(), 0, len_of(r), staging, bytes.first(split)));
  return scatter_rows(*ctx, dv_to.view(), 0, len_of(r), staging, bytes.subspan(split));
}

Status RingAttention::Impl::receive_sums(int r) {
  const std::int64_t len = len_of(r);
  VKATTN_TRY(scatter_received_sums(r, *dk_in, *dv_in));
  const TensorView dk_from = row_range(dk_in->view(), 0, len), dk_to = row_range(dk_acc->view(), 0, len);
  const TensorView dv_from = row_range(dv_in->view(), 0, len), dv_to = row_range(dv_acc->view(), 0, len);
  VKATTN_TRY(in_dk->reserve(dk_from, dk_to));
  VKATTN_TRY(in_dv->reserve(dv_from, dv_to));
  return run_isolated(*ctx, [&](VkCommandBuffer cmd) -> Status {
    VKATTN_TRY(in_dk->record(cmd, dk_from, dk_to));
    return in_dv->record(cmd, dv_from, dv_to);
  });
}

}  // namespace vkattn
