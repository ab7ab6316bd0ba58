#include "plans/qk_prep.hpp"

#include <array>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "kernels/kernel.hpp"
#include "planning/tensor_checks.hpp"
#include "vkattn/context.hpp"

namespace vkattn {
namespace {

// A [B, H, S, D] view of a call's tensor: itself, or varlen's [T, H, D] as [1, H, T, D].
TensorView as_rows(const TensorView& v) {
  if (v.rank == 4) return v;
  TensorView r = v;
  r.rank = 4;
  r.shape = {1, v.shape[1], v.shape[0], v.shape[2]};
  r.strides = {v.shape[0] * v.strides[0], v.strides[1], v.strides[0], v.strides[2]};
  return r;
}

}  // namespace

struct QKPrep::Side {
  const char* name = "";  // "q" or "k"
  bool active = false;    // a norm or a RoPE applies to this side
  bool varlen = false;
  std::int64_t batch = 0, heads = 0, seq = 0, dim = 0;  // the attention's view: [B, H, S, D] or [T, H, D]
  DType dtype = DType::kF16;
  std::optional<QKTransformPlan> plan;
  bool user_positions = false;  // rope.positions: the call's tensor; else `positions` below (1D RoPE)
  BufferAlloc positions;        // host positions, [B, S] (varlen [1, T])
  BufferAlloc ws, dws;          // X' and dX', laid out as the attention view

  VkDeviceSize bytes() const { return static_cast<VkDeviceSize>(batch * heads * seq * dim) * dtype_size(dtype); }
  TensorView attention_view(const BufferAlloc& b) const {
    return varlen ? TensorView::contiguous(b.buffer, b.size, dtype, {seq, heads, dim})
                  : TensorView::contiguous(b.buffer, b.size, dtype, {batch, heads, seq, dim});
  }
  std::optional<TensorView> positions_view(const std::optional<TensorView>& given) const {
    if (!plan || !plan->desc().rope.positions) return std::nullopt;
    if (!user_positions) {
      return TensorView::contiguous(positions.buffer, positions.size, DType::kI32, {varlen ? 1 : batch, seq});
    }
    if (!given || given->rank != 1) return given;
    TensorView v = *given;  // varlen [T] as [1, T]
    v.rank = 2;
    v.shape = {1, given->shape[0], 0, 0};
    v.strides = {given->shape[0], given->strides[0], 0, 0};
    return v;
  }
};

QKPrep::~QKPrep() = default;

Result<std::unique_ptr<QKPrep>> QKPrep::create(Context& ctx, const Problem& p, bool backward) {
  const AttentionDesc& d = p.desc;
  const Device& device = *context_state(ctx).device;
  auto prep = std::unique_ptr<QKPrep>(new QKPrep());
  prep->ctx_ = &ctx;
  const bool varlen = p.seq_mode == SeqMode::kVarlen;
  const Sequences& sq = d.sequences;
  const auto len = [&](bool query, std::int64_t b) -> std::int64_t {
    const std::vector<std::int32_t>& cu = query ? sq.cu_seqlens_q : sq.cu_seqlens_k;
    const std::vector<std::int32_t>& lens = query ? sq.seq_lens_q : sq.seq_lens_kv;
    if (varlen) return cu[static_cast<std::size_t>(b) + 1] - cu[static_cast<std::size_t>(b)];
    if (!lens.empty()) return lens[static_cast<std::size_t>(b)];
    return query ? p.seq_q : p.seq_k;
  };
  for (const bool query : {true, false}) {
    auto side = std::make_unique<Side>();
    side->name = query ? "q" : "k";
    const QKNorm& norm = query ? d.qk.q_norm : d.qk.k_norm;
    side->active = norm.kind != QKNormKind::kNone || d.qk.rope.style != RopeStyle::kNone;
    side->varlen = varlen;
    side->batch = d.batch;
    side->heads = query ? d.q_heads : p.kv_heads;
    side->seq = varlen ? (query ? p.total_q : p.total_k) : (query ? p.seq_q : p.seq_k);
    side->dim = d.head_dim;
    side->dtype = d.dtype;
    if (side->active) {
      QKTransformDesc td;
      td.dtype = d.dtype;
      td.batch = varlen ? 1 : d.batch;
      td.heads = side->heads;
      td.seq = side->seq;
      td.head_dim = d.head_dim;
      td.norm = norm;
      td.rope = d.qk.rope;
      td.rope.position_offset = 0;
      const bool one_d = td.rope.style != RopeStyle::kNone && td.rope.grid.empty();
      side->user_positions = one_d && d.qk.rope.positions;
      td.rope.positions = one_d;  // the call's positions, or the host's below
      Result<QKTransformPlan> plan = QKTransformPlan::create(ctx, td);
      if (!plan) {  // the transform's message with the attention desc's field names
        std::string m = plan.status().message();
        for (const auto& [from, to] : {std::pair<std::string, std::string>{"desc.norm.", std::string("desc.qk.") + side->name + "_norm."},
                                       {"desc.rope.", "desc.qk.rope."}}) {
          for (std::size_t at = m.find(from); at != std::string::npos; at = m.find(from, at + to.size())) m.replace(at, from.size(), to);
        }
        return Status(plan.status().code(), m);
      }
      side->plan.emplace(std::move(plan).value());
      if (one_d && !side->user_positions) {
        // Key j at k_offset + j; query i at the position of the key on its aligned diagonal.
        std::vector<std::int32_t> pos;
        for (std::int64_t b = 0; b < d.batch; ++b) {
          const std::int64_t shift = query ? d.mask.q_offset + (d.mask.align == Align::kBottomRight ? len(false, b) - len(true, b) : 0)
                                           : d.mask.k_offset;
          const std::int64_t n = varlen ? len(query, b) : side->seq;
          for (std::int64_t i = 0; i < n; ++i) pos.push_back(static_cast<std::int32_t>(i + shift));
        }
        VKATTN_TRY(create_host_written_buffer(device, std::as_bytes(std::span(pos)), side->positions));
      }
      VKATTN_TRY(allocate(device, side->bytes(), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                          side->ws));
      if (backward) {
        VKATTN_TRY(allocate(device, side->bytes(), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 0,
                            VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, side->dws));
      }
    }
    (query ? prep->q_ : prep->k_) = std::move(side);
  }
  return prep;
}

Status QKPrep::check(const QKPrepInputs& in) const {
  const Device& device = *context_state(*ctx_).device;
  for (const Side* s : {q_.get(), k_.get()}) {
    const bool query = s == q_.get();
    const std::string side = s->name;
    const std::string weight_name = side + "_norm_weight";
    const std::string pos_name = side + "_positions";
    const std::optional<TensorView>& weight = query ? in.q_weight : in.k_weight;
    const std::optional<TensorView>& pos = query ? in.q_positions : in.k_positions;
    const bool wants_weight = s->plan && s->plan->desc().norm.kind == QKNormKind::kRMS;
    if (wants_weight != weight.has_value()) {
      return invalid(weight_name + (wants_weight ? " is missing (desc.qk." + side + "_norm.kind is rms)"
                                                 : " is given but desc.qk." + side + "_norm.kind is not rms"));
    }
    if (s->user_positions != pos.has_value()) {
      return invalid(pos_name + (s->user_positions ? " is missing (desc.qk.rope.positions = true)"
                                                   : " is given but desc.qk.rope.positions is not set"));
    }
    if (weight) {
      const std::array<std::int64_t, 1> shape{s->dim};
      static constexpr std::array<const char*, 1> kDims{"Dk"};
      VKATTN_TRY(check_view(device, *weight, {weight_name.c_str(), shape, kDims, DType::kF32, true, false, false, true}).status());
    }
    if (pos) {
      const std::array<std::int64_t, 2> dense{s->batch, s->seq};
      const std::array<std::int64_t, 1> packed{s->seq};
      static constexpr std::array<const char*, 2> kDense{"B", "S"};
      static constexpr std::array<const char*, 1> kPacked{"T"};
      const ViewRequirement req = s->varlen ? ViewRequirement{pos_name.c_str(), packed, kPacked, DType::kI32}
                                            : ViewRequirement{pos_name.c_str(), dense, kDense, DType::kI32};
      VKATTN_TRY(check_view(device, *pos, req).status());
    }
  }
  return Status::ok();
}

Status QKPrep::check_grads(const std::optional<TensorView>& dq_weight,
                          const std::optional<TensorView>& dk_weight) const {
  const Device& device = *context_state(*ctx_).device;
  for (const Side* s : {q_.get(), k_.get()}) {
    const std::optional<TensorView>& g = s == q_.get() ? dq_weight : dk_weight;
    if (!g) continue;
    std::string name = "d";
    (name += s->name) += "_norm_weight";
    if (!s->plan || s->plan->desc().norm.kind != QKNormKind::kRMS) {
      return invalid(name + " is given but desc.qk." + s->name + "_norm.kind is not rms");
    }
    const std::array<std::int64_t, 1> shape{s->dim};
    static constexpr std::array<const char*, 1> kDims{"Dk"};
    VKATTN_TRY(check_view(device, *g, {name.c_str(), shape, kDims, DType::kF32, true, true, false, true}).status());
  }
  return Status::ok();
}

TensorView QKPrep::q_view(const TensorView& q) const { return q_->active ? q_->attention_view(q_->ws) : q; }
TensorView QKPrep::k_view(const TensorView& k) const { return k_->active ? k_->attention_view(k_->ws) : k; }
TensorView QKPrep::dq_view(const TensorView& dq) const { return q_->active ? q_->attention_view(q_->dws) : dq; }
TensorView QKPrep::dk_view(const TensorView& dk) const { return k_->active ? k_->attention_view(k_->dws) : dk; }

Status QKPrep::record_forward(VkCommandBuffer cmd, const QKPrepInputs& in) {
  for (Side* s : {q_.get(), k_.get()}) {
    if (!s->active) continue;
    const bool query = s == q_.get();
    QKTransformTensors t{as_rows(query ? in.q : in.k), as_rows(s->attention_view(s->ws)),
                         query ? in.q_weight : in.k_weight, s->positions_view(query ? in.q_positions : in.k_positions)};
    VKATTN_TRY(s->plan->record(cmd, t));
  }
  return Status::ok();
}

Status QKPrep::record_backward(VkCommandBuffer cmd, const QKPrepInputs& in, const TensorView& dq, const TensorView& dk,
                               const std::optional<TensorView>& dq_weight, const std::optional<TensorView>& dk_weight) {
  for (Side* s : {q_.get(), k_.get()}) {
    if (!s->active) continue;
    const bool query = s == q_.get();
    QKTransformGradTensors t{as_rows(query ? in.q : in.k),
                             as_rows(s->attention_view(s->dws)),
                             as_rows(query ? dq : dk),
                             query ? in.q_weight : in.k_weight,
                             s->positions_view(query ? in.q_positions : in.k_positions),
                             query ? dq_weight : dk_weight};
    VKATTN_TRY(s->plan->record_backward(cmd, t));
  }
  return Status::ok();
}

std::string qk_variant_suffix(const QKTransform& qk) {
  const auto norm = [](const QKNorm& n) { return n.kind == QKNormKind::kRMS ? "rms" : "l2"; };
  std::string s;
  if (qk.q_norm.kind != QKNormKind::kNone && qk.q_norm.kind == qk.k_norm.kind) {
    s += std::string("_qknorm_") + norm(qk.q_norm);
  } else {
    if (qk.q_norm.kind != QKNormKind::kNone) s += std::string("_qnorm_") + norm(qk.q_norm);
    if (qk.k_norm.kind != QKNormKind::kNone) s += std::string("_knorm_") + norm(qk.k_norm);
  }
  if (qk.rope.style != RopeStyle::kNone) {
    s += qk.rope.style == RopeStyle::kRotateHalf ? "_rope_half" : "_rope_pairs";
    if (qk.rope.rotary_dim != 0) (s += "_r") += std::to_string(qk.rope.rotary_dim);
    if (!qk.rope.grid.empty()) ((s += "_") += std::to_string(qk.rope.grid.size())) += "d";
    if (qk.rope.positions) s += "_pos";
  }
  return s;
}

void QKPrep::release_descriptor_sets() {
  for (Side* s : {q_.get(), k_.get()}) {
    if (s->plan) s->plan->release_descriptor_sets();
  }
}

}  // namespace vkattn
