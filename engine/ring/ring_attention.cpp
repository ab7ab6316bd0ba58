// Ring attention (vkattn/ring.hpp): the forward walks the K/V shards around the ring, attending
// this rank's query pieces to each shard's key pieces as partial attention (mask offsets =
// global positions) and merging the partial (O, LSE) exactly (ring_forward.cpp); the backward
// walks them again with dK/dV accumulators, summing every pair's gradients in fp32 on the device
// in a fixed order, deterministic (ring_backward.cpp). This file: creation (the desc checks of
// ring_desc_checks.cpp, then the device buffers) and the public methods.
#include <algorithm>
#include <memory>
#include <tuple>
#include <vector>

#include "ring/ring_desc_checks.hpp"
#include "ring/ring_impl.hpp"

namespace vkattn {

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
  Status local = check_ring_desc(desc, P, me);
  if (local) {
    AttentionDesc a = desc.attention;
    a.seq_q = a.seq_k = ring_shard_length(desc.sharding, desc.seq_total, P, me);
    local = ForwardPlan::create(ctx, a).status();  // the shard problem is one the engine takes
  }
  VKATTN_TRY(impl->comm.agree(local, "create: desc checks"));
  VKATTN_TRY(check_ring_descs_agree(impl->comm, desc));
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
