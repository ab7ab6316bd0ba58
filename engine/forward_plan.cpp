#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "attn_fwd_interface.hpp"
#include "context_state.hpp"
#include "descriptor_binder.hpp"
#include "fwd_variant.hpp"
#include "pipeline_registry.hpp"
#include "tensor_checks.hpp"
#include "vk_util.hpp"
#include "vkattn/attention.hpp"
#include "vkattn/context.hpp"

namespace vkattn {
namespace {

constexpr std::uint32_t kFwdBindings = 5;  // q, k, v, o, lse
constexpr const char* kQkvDims[] = {"B", "Hkv", "Sk", "D"};
constexpr const char* kQDims[] = {"B", "Hq", "Sq", "D"};
constexpr const char* kLseDims[] = {"B", "Hq", "Sq"};

// Validated tensors of one call, ready to bind.
struct BoundForward {
  std::array<VkDescriptorBufferInfo, kFwdBindings> descriptors{};
  FwdPushConstants push;
};

}  // namespace

struct ForwardPlan::Impl {
  Context* ctx = nullptr;
  AttentionDesc desc;
  std::int64_t kv_heads = 0;
  FwdSpecConstants spec;
  std::string name;
  std::shared_ptr<const Pipeline> pipeline;
  std::unique_ptr<DescriptorBinder> binder;
  FwdPushConstants push_template;  // problem-level fields; tensor fields filled per call

  ~Impl() {
    if (ctx != nullptr) ctx->state().live_children.fetch_sub(1);
  }

  Result<BoundForward> bind(const ForwardTensors& t) const {
    const ContextState& s = ctx->state();
    const std::array<std::int64_t, 4> q_shape = {desc.batch, desc.q_heads, desc.seq_q, desc.head_dim};
    const std::array<std::int64_t, 4> kv_shape = {desc.batch, kv_heads, desc.seq_k, desc.head_dim};
    const std::array<std::int64_t, 3> lse_shape = {desc.batch, desc.q_heads, desc.seq_q};
    const ViewRequirement rq{"q", q_shape, kQDims, desc.dtype, true, false};
    const ViewRequirement rk{"k", kv_shape, kQkvDims, desc.dtype, true, false};
    const ViewRequirement rv{"v", kv_shape, kQkvDims, desc.dtype, true, false};
    const ViewRequirement ro{"o", q_shape, kQDims, desc.dtype, true, true};
    const ViewRequirement rl{"lse", lse_shape, kLseDims, DType::kF32, false, true};
    Result<BoundView> q = check_view(s, t.q, rq);
    if (!q) return q.status();
    Result<BoundView> k = check_view(s, t.k, rk);
    if (!k) return k.status();
    Result<BoundView> v = check_view(s, t.v, rv);
    if (!v) return v.status();
    Result<BoundView> o = check_view(s, t.o, ro);
    if (!o) return o.status();
    VKATTN_TRY(check_no_overlap(*o, "o", t.o, *q, "q", t.q));
    VKATTN_TRY(check_no_overlap(*o, "o", t.o, *k, "k", t.k));
    VKATTN_TRY(check_no_overlap(*o, "o", t.o, *v, "v", t.v));
    BoundView lse = *o;  // bound to the O range when no LSE is written (the shader never touches it)
    if (desc.write_lse) {
      if (!t.lse.has_value()) return invalid("lse is missing but the plan writes LSE (desc.write_lse = true)");
      Result<BoundView> l = check_view(s, *t.lse, rl);
      if (!l) return l.status();
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *q, "q", t.q));
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *k, "k", t.k));
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *v, "v", t.v));
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *o, "o", t.o));
      lse = l.value();
    } else if (t.lse.has_value()) {
      return invalid("lse is given but the plan does not write LSE (desc.write_lse = false)");
    }
    BoundForward b;
    b.descriptors = {q->descriptor, k->descriptor, v->descriptor, o->descriptor, lse.descriptor};
    FwdPushConstants& p = b.push;
    p = push_template;
    p.q_offset = q->element_offset;
    p.q_stride_b = q->strides[0];
    p.q_stride_h = q->strides[1];
    p.q_stride_s = q->strides[2];
    p.k_offset = k->element_offset;
    p.k_stride_b = k->strides[0];
    p.k_stride_h = k->strides[1];
    p.k_stride_s = k->strides[2];
    p.v_offset = v->element_offset;
    p.v_stride_b = v->strides[0];
    p.v_stride_h = v->strides[1];
    p.v_stride_s = v->strides[2];
    p.o_offset = o->element_offset;
    p.o_stride_b = o->strides[0];
    p.o_stride_h = o->strides[1];
    p.o_stride_s = o->strides[2];
    if (desc.write_lse) {
      p.lse_offset = lse.element_offset;
      p.lse_stride_b = lse.strides[0];
      p.lse_stride_h = lse.strides[1];
      p.lse_stride_s = lse.strides[2];
    }
    return b;
  }

  Status record_bound(VkCommandBuffer cmd, const BoundForward& b) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->handle);
    VKATTN_TRY(binder->bind(cmd, b.descriptors));
    vkCmdPushConstants(cmd, pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(FwdPushConstants), &b.push);
    const auto groups_x = static_cast<std::uint32_t>((desc.seq_q + spec.block_q - 1) / spec.block_q);
    const auto groups_y = static_cast<std::uint32_t>(desc.batch * desc.q_heads);
    vkCmdDispatch(cmd, groups_x, groups_y, 1);
    return Status::ok();
  }
};

ForwardPlan::ForwardPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ForwardPlan::ForwardPlan(ForwardPlan&&) noexcept = default;
ForwardPlan& ForwardPlan::operator=(ForwardPlan&&) noexcept = default;
ForwardPlan::~ForwardPlan() = default;

Result<ForwardPlan> ForwardPlan::create(Context& ctx, const AttentionDesc& desc) {
  ContextState& s = ctx.state();
  VKATTN_TRY(validate_desc(desc, s.info));
  auto impl = std::make_unique<Impl>();
  impl->desc = desc;
  impl->kv_heads = desc.kv_heads == 0 ? desc.q_heads : desc.kv_heads;
  impl->spec = choose_fwd_variant(desc, s.info);
  impl->name = fwd_variant_name(impl->spec);

  const auto spec_map = fwd_spec_map();
  PipelineKey key;
  key.shader = ShaderId::kAttnFwd;
  key.spec_words.resize(kFwdSpecCount);
  std::memcpy(key.spec_words.data(), &impl->spec, sizeof(FwdSpecConstants));
  PipelineRecipe recipe{impl->name, spec_map, kFwdBindings, sizeof(FwdPushConstants)};
  Result<std::shared_ptr<const Pipeline>> pipeline = s.pipelines->get(key, recipe);
  if (!pipeline) return pipeline.status();
  impl->pipeline = pipeline.value();
  impl->binder = std::make_unique<DescriptorBinder>(s, impl->pipeline);

  FwdPushConstants& p = impl->push_template;
  p.batch = static_cast<std::uint32_t>(desc.batch);
  p.q_heads = static_cast<std::uint32_t>(desc.q_heads);
  p.kv_heads = static_cast<std::uint32_t>(impl->kv_heads);
  p.seq_q = static_cast<std::uint32_t>(desc.seq_q);
  p.seq_k = static_cast<std::uint32_t>(desc.seq_k);
  const double scale = desc.scale.has_value() ? static_cast<double>(*desc.scale)
                                              : 1.0 / std::sqrt(static_cast<double>(desc.head_dim));
  p.scale_log2 = static_cast<float>(scale * 1.4426950408889634);  // log2(e)
  impl->ctx = &ctx;
  s.live_children.fetch_add(1);
  return ForwardPlan(std::move(impl));
}

const std::string& ForwardPlan::variant_name() const { return impl_->name; }
const AttentionDesc& ForwardPlan::desc() const { return impl_->desc; }

Status ForwardPlan::validate(const ForwardTensors& t) const { return impl_->bind(t).status(); }

Status ForwardPlan::record(VkCommandBuffer cmd, const ForwardTensors& t) {
  if (cmd == VK_NULL_HANDLE) return invalid("cmd is VK_NULL_HANDLE");
  Result<BoundForward> b = impl_->bind(t);
  if (!b) return b.status();
  return impl_->record_bound(cmd, b.value());
}

Status ForwardPlan::run(const ForwardTensors& t) {
  Result<BoundForward> b = impl_->bind(t);
  if (!b) return b.status();
  Status recorded;
  VKATTN_TRY(impl_->ctx->submit_and_wait([&](VkCommandBuffer cmd) {
    // Earlier writes (uploads) -> this dispatch; this dispatch -> anything after (downloads).
    VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                           VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &before,
                         0, nullptr, 0, nullptr);
    recorded = impl_->record_bound(cmd, b.value());
    VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                          VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &after, 0,
                         nullptr, 0, nullptr);
  }));
  return recorded;
}

AttentionDesc describe(const ForwardTensors& t, Mask mask, std::optional<float> scale) {
  AttentionDesc d;
  d.dtype = t.q.dtype;
  d.batch = t.q.shape[0];
  d.q_heads = t.q.shape[1];
  d.seq_q = t.q.shape[2];
  d.head_dim = t.q.shape[3];
  d.kv_heads = t.k.shape[1];
  d.seq_k = t.k.shape[2];
  d.mask = mask;
  d.scale = scale;
  d.write_lse = t.lse.has_value();
  return d;
}

Status attention_forward(Context& ctx, const ForwardTensors& t, Mask mask, std::optional<float> scale) {
  if (t.q.rank != 4) return invalid("q.rank = " + std::to_string(t.q.rank) + ", expected 4 ([B, Hq, Sq, D])");
  if (t.k.rank != 4) return invalid("k.rank = " + std::to_string(t.k.rank) + ", expected 4 ([B, Hkv, Sk, D])");
  Result<ForwardPlan> plan = ForwardPlan::create(ctx, describe(t, mask, scale));
  if (!plan) return plan.status();
  return plan->run(t);
}

}  // namespace vkattn
