#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "attn_fwd_interface.hpp"
#include "buffer_alloc.hpp"
#include "context_state.hpp"
#include "descriptor_binder.hpp"
#include "attn_params.hpp"
#include "fwd_variant.hpp"
#include "pipeline_registry.hpp"
#include "tensor_checks.hpp"
#include "vk_util.hpp"
#include "vkattn/attention.hpp"
#include "vkattn/context.hpp"

namespace vkattn {
namespace {

// Validated tensors of one call, ready to bind.
struct BoundForward {
  std::array<VkDescriptorBufferInfo, kFwdBindingCount> descriptors{};
  FwdPushConstants push;
};

// Offset and (batch, head, token) strides of a bound Q/K/V/O/LSE view, as the kernel addresses it.
struct Addressing {
  std::uint32_t offset, stride_b, stride_h, stride_s;
};

// Dense views are [B, H, S, ...]; packed varlen views are [T, H, ...]; LSE is [B, H, S] or [H, T].
Addressing addressing(const BoundView& v, bool varlen, bool lse) {
  if (!varlen) return {v.element_offset, v.strides[0], v.strides[1], v.strides[2]};
  if (lse) return {v.element_offset, 0, v.strides[0], v.strides[1]};
  return {v.element_offset, 0, v.strides[1], v.strides[0]};
}

// A checked input that outputs must not overlap.
struct Input {
  const char* name;
  const TensorView* view;
  BoundView bound;
};

}  // namespace

struct ForwardPlan::Impl {
  Context* ctx = nullptr;
  FwdProblem problem;
  FwdSpecConstants spec;
  std::string name;
  std::shared_ptr<const Pipeline> pipeline;
  std::unique_ptr<DescriptorBinder> binder;
  BufferAlloc params;  // AttnParamsHeader + sequence table, written once at creation

  ~Impl() {
    if (ctx != nullptr) ctx->state().live_children.fetch_sub(1);
  }

  bool varlen() const { return problem.seq_mode == SeqMode::kVarlen; }

  // Checks one optional input: present iff `enabled`, then against `req`.
  Status optional_input(const std::optional<TensorView>& t, bool enabled, const ViewRequirement& req,
                        const char* feature, std::vector<Input>& inputs, BoundForward& b, FwdBinding binding) const {
    if (!enabled) {
      if (t.has_value()) return invalid(std::string(req.name) + " is given but " + feature + " is not set");
      return Status::ok();
    }
    if (!t.has_value()) return invalid(std::string(req.name) + " is missing (" + feature + " is set)");
    Result<BoundView> v = check_view(ctx->state(), *t, req);
    if (!v) return v.status();
    inputs.push_back({req.name, &*t, *v});
    b.descriptors[binding] = v->descriptor;
    return Status::ok();
  }

  Result<BoundForward> bind(const ForwardTensors& t) const {
    const ContextState& s = ctx->state();
    const AttentionDesc& d = problem.desc;
    const std::int64_t B = d.batch, Hq = d.q_heads, Hkv = problem.kv_heads;
    const std::int64_t Sq = problem.seq_q, Sk = problem.seq_k, Dk = d.head_dim, Dv = problem.head_dim_v;
    const std::int64_t Tq = problem.total_q, Tk = problem.total_k;
    const bool vl = varlen();

    using Shape = std::vector<std::int64_t>;
    using Names = std::vector<const char*>;
    const Shape q_shape = vl ? Shape{Tq, Hq, Dk} : Shape{B, Hq, Sq, Dk};
    const Shape k_shape = vl ? Shape{Tk, Hkv, Dk} : Shape{B, Hkv, Sk, Dk};
    const Shape v_shape = vl ? Shape{Tk, Hkv, Dv} : Shape{B, Hkv, Sk, Dv};
    const Shape o_shape = vl ? Shape{Tq, Hq, Dv} : Shape{B, Hq, Sq, Dv};
    const Shape lse_shape = vl ? Shape{Hq, Tq} : Shape{B, Hq, Sq};
    const Names q_names = vl ? Names{"Tq (cu_seqlens_q.back())", "Hq", "Dk"} : Names{"B", "Hq", "Sq", "Dk"};
    const Names k_names = vl ? Names{"Tk (cu_seqlens_k.back())", "Hkv", "Dk"} : Names{"B", "Hkv", "Sk", "Dk"};
    const Names v_names = vl ? Names{"Tk (cu_seqlens_k.back())", "Hkv", "Dv"} : Names{"B", "Hkv", "Sk", "Dv"};
    const Names o_names = vl ? Names{"Tq (cu_seqlens_q.back())", "Hq", "Dv"} : Names{"B", "Hq", "Sq", "Dv"};
    const Names lse_names = vl ? Names{"Hq", "Tq"} : Names{"B", "Hq", "Sq"};

    BoundForward b;
    std::vector<Input> inputs;
    inputs.reserve(10);
    const auto required = [&](const TensorView& v, const char* nm, const Shape& shape,
                              const Names& names) -> Result<BoundView> {
      Result<BoundView> r = check_view(s, v, {nm, shape, names, d.dtype, true, false});
      if (r) inputs.push_back({nm, &v, *r});
      return r;
    };
    Result<BoundView> q = required(t.q, "q", q_shape, q_names);
    if (!q) return q.status();
    Result<BoundView> k = required(t.k, "k", k_shape, k_names);
    if (!k) return k.status();
    Result<BoundView> v = required(t.v, "v", v_shape, v_names);
    if (!v) return v.status();
    Result<BoundView> o = check_view(s, t.o, {"o", o_shape, o_names, d.dtype, true, true});
    if (!o) return o.status();

    const VkDescriptorBufferInfo params_desc{params.buffer, 0, params.size};
    b.descriptors.fill(params_desc);  // bindings of disabled features read nothing
    b.descriptors[kFwdQ] = q->descriptor;
    b.descriptors[kFwdK] = k->descriptor;
    b.descriptors[kFwdV] = v->descriptor;
    b.descriptors[kFwdO] = o->descriptor;
    b.descriptors[kFwdLse] = o->descriptor;  // bound to O when no LSE is written (never touched)

    const ScoreMod& mod = d.score_mod;
    const Shape bias_shape{B, Hq, Sq, Sk};
    const Names bias_names{"B", "Hq", "Sq", "Sk"};
    VKATTN_TRY(optional_input(t.bias, mod.bias.has_value(),
                              {"bias", bias_shape, bias_names, mod.bias.value_or(DType::kF32), true, false, true},
                              "desc.score_mod.bias", inputs, b, kFwdBias));
    const bool per_batch = mod.alibi == Alibi::kPerBatchHead;
    const Shape slopes_shape = per_batch ? Shape{B, Hq} : Shape{Hq};
    const Names slopes_names = per_batch ? Names{"B", "Hq"} : Names{"Hq"};
    VKATTN_TRY(optional_input(t.alibi_slopes, mod.alibi != Alibi::kNone,
                              {"alibi_slopes", slopes_shape, slopes_names, DType::kF32, true, false, false, true},
                              "desc.score_mod.alibi", inputs, b, kFwdSlopes));
    const Shape table_shape{Hq, 2 * mod.rel_pos_max_distance.value_or(0) + 1};
    const Names table_names{"Hq", "2M + 1"};
    VKATTN_TRY(optional_input(t.rel_pos_table, mod.rel_pos_max_distance.has_value(),
                              {"rel_pos_table", table_shape, table_names, DType::kF32, true, false, false, true},
                              "desc.score_mod.rel_pos_max_distance", inputs, b, kFwdTable));
    const Shape sinks_shape{Hq};
    const Names sinks_names{"Hq"};
    VKATTN_TRY(optional_input(t.sinks, mod.sinks,
                              {"sinks", sinks_shape, sinks_names, DType::kF32, true, false, false, true},
                              "desc.score_mod.sinks", inputs, b, kFwdSinks));
    const Shape docs_q_shape = vl ? Shape{Tq} : Shape{B, Sq};
    const Shape docs_k_shape = vl ? Shape{Tk} : Shape{B, Sk};
    const Names docs_q_names = vl ? Names{"Tq"} : Names{"B", "Sq"};
    const Names docs_k_names = vl ? Names{"Tk"} : Names{"B", "Sk"};
    VKATTN_TRY(optional_input(t.doc_ids_q, d.mask.documents,
                              {"doc_ids_q", docs_q_shape, docs_q_names, DType::kI32, true, false, false, true},
                              "desc.mask.documents", inputs, b, kFwdDocsQ));
    VKATTN_TRY(optional_input(t.doc_ids_kv, d.mask.documents,
                              {"doc_ids_kv", docs_k_shape, docs_k_names, DType::kI32, true, false, false, true},
                              "desc.mask.documents", inputs, b, kFwdDocsK));

    for (const Input& in : inputs) VKATTN_TRY(check_no_overlap(*o, "o", t.o, in.bound, in.name, *in.view));
    std::optional<BoundView> lse;
    if (d.write_lse) {
      if (!t.lse.has_value()) return invalid("lse is missing but the plan writes LSE (desc.write_lse = true)");
      Result<BoundView> l = check_view(s, *t.lse, {"lse", lse_shape, lse_names, DType::kF32, false, true});
      if (!l) return l.status();
      for (const Input& in : inputs) VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, in.bound, in.name, *in.view));
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *o, "o", t.o));
      lse = *l;
      b.descriptors[kFwdLse] = l->descriptor;
    } else if (t.lse.has_value()) {
      return invalid("lse is given but the plan does not write LSE (desc.write_lse = false)");
    }

    FwdPushConstants& p = b.push;
    const Addressing aq = addressing(*q, vl, false), ak = addressing(*k, vl, false), av = addressing(*v, vl, false),
                     ao = addressing(*o, vl, false);
    p.q_offset = aq.offset, p.q_stride_b = aq.stride_b, p.q_stride_h = aq.stride_h, p.q_stride_s = aq.stride_s;
    p.k_offset = ak.offset, p.k_stride_b = ak.stride_b, p.k_stride_h = ak.stride_h, p.k_stride_s = ak.stride_s;
    p.v_offset = av.offset, p.v_stride_b = av.stride_b, p.v_stride_h = av.stride_h, p.v_stride_s = av.stride_s;
    p.o_offset = ao.offset, p.o_stride_b = ao.stride_b, p.o_stride_h = ao.stride_h, p.o_stride_s = ao.stride_s;
    if (lse) {
      const Addressing al = addressing(*lse, vl, true);
      p.lse_offset = al.offset, p.lse_stride_b = al.stride_b, p.lse_stride_h = al.stride_h,
      p.lse_stride_s = al.stride_s;
    }
    for (const Input& in : inputs) {
      const std::string nm = in.name;
      const BoundView& bv = in.bound;
      if (nm == "bias") {
        p.bias_offset = bv.element_offset;
        p.bias_stride_b = bv.strides[0], p.bias_stride_h = bv.strides[1], p.bias_stride_q = bv.strides[2];
      } else if (nm == "alibi_slopes") {
        p.slopes_offset = bv.element_offset;
      } else if (nm == "rel_pos_table") {
        p.table_offset = bv.element_offset;
      } else if (nm == "sinks") {
        p.sinks_offset = bv.element_offset;
      } else if (nm == "doc_ids_q") {
        p.docs_q_offset = bv.element_offset;
      } else if (nm == "doc_ids_kv") {
        p.docs_k_offset = bv.element_offset;
      }
    }
    return b;
  }

  Status record_bound(VkCommandBuffer cmd, const BoundForward& b) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->handle);
    VKATTN_TRY(binder->bind(cmd, b.descriptors));
    vkCmdPushConstants(cmd, pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(FwdPushConstants), &b.push);
    const auto groups_x = static_cast<std::uint32_t>((problem.seq_q + spec.block_q - 1) / spec.block_q);
    const auto groups_y = static_cast<std::uint32_t>(problem.desc.batch * problem.desc.q_heads);
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
  Result<FwdProblem> problem = resolve_problem(desc, s.info);
  if (!problem) return problem.status();
  auto impl = std::make_unique<Impl>();
  impl->problem = std::move(problem).value();
  impl->spec = choose_fwd_variant(impl->problem, s.info);
  impl->name = fwd_variant_name(impl->spec);

  const auto spec_map = fwd_spec_map();
  PipelineKey key;
  key.shader = ShaderId::kAttnFwd;
  key.spec_words.resize(kFwdSpecCount);
  std::memcpy(key.spec_words.data(), &impl->spec, sizeof(FwdSpecConstants));
  PipelineRecipe recipe{impl->name, spec_map, kFwdBindingCount, sizeof(FwdPushConstants)};
  Result<std::shared_ptr<const Pipeline>> pipeline = s.pipelines->get(key, recipe);
  if (!pipeline) return pipeline.status();
  impl->pipeline = pipeline.value();
  impl->binder = std::make_unique<DescriptorBinder>(s, impl->pipeline);
  VKATTN_TRY(create_host_written_buffer(s, attn_params_bytes(impl->problem), impl->params));
  s.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->params.buffer), impl->name + ".params");
  impl->ctx = &ctx;
  s.live_children.fetch_add(1);
  return ForwardPlan(std::move(impl));
}

const std::string& ForwardPlan::variant_name() const { return impl_->name; }
const AttentionDesc& ForwardPlan::desc() const { return impl_->problem.desc; }

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

Result<std::string> forward_variant_name(Context& ctx, const AttentionDesc& desc) {
  Result<FwdProblem> problem = resolve_problem(desc, ctx.state().info);
  if (!problem) return problem.status();
  return fwd_variant_name(choose_fwd_variant(*problem, ctx.state().info));
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
  d.head_dim_v = t.v.shape[3];
  d.mask = mask;
  d.mask.documents = t.doc_ids_q.has_value() || t.doc_ids_kv.has_value();
  if (t.bias) d.score_mod.bias = t.bias->dtype;
  if (t.alibi_slopes) d.score_mod.alibi = t.alibi_slopes->rank == 2 ? Alibi::kPerBatchHead : Alibi::kPerHead;
  if (t.rel_pos_table && t.rel_pos_table->rank == 2)
    d.score_mod.rel_pos_max_distance = (t.rel_pos_table->shape[1] - 1) / 2;
  d.score_mod.sinks = t.sinks.has_value();
  d.scale = scale;
  d.write_lse = t.lse.has_value();
  return d;
}

Status attention_forward(Context& ctx, const ForwardTensors& t, Mask mask, std::optional<float> scale) {
  if (t.q.rank != 4) return invalid("q.rank = " + std::to_string(t.q.rank) + ", expected 4 ([B, Hq, Sq, Dk])");
  if (t.k.rank != 4) return invalid("k.rank = " + std::to_string(t.k.rank) + ", expected 4 ([B, Hkv, Sk, Dk])");
  if (t.v.rank != 4) return invalid("v.rank = " + std::to_string(t.v.rank) + ", expected 4 ([B, Hkv, Sk, Dv])");
  Result<ForwardPlan> plan = ForwardPlan::create(ctx, describe(t, mask, scale));
  if (!plan) return plan.status();
  return plan->run(t);
}

}  // namespace vkattn
