#include <array>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"
#include "kernels/attn_fwd_interface.hpp"
#include "kernels/attn_merge_interface.hpp"
#include "kernels/kernel.hpp"
#include "planning/attn_params.hpp"
#include "planning/attn_views.hpp"
#include "planning/fwd_tiles.hpp"
#include "planning/merge_planning.hpp"
#include "planning/planner.hpp"
#include "planning/split_k.hpp"
#include "plans/dropout_rng.hpp"
#include "plans/plan_core.hpp"
#include "plans/qk_prep.hpp"
#include "plans/run_isolated.hpp"
#include "vkattn/attention.hpp"
#include "vkattn/context.hpp"

namespace vkattn {
namespace {

// Validated tensors of one call, ready to bind.
struct BoundForward {
  std::array<VkDescriptorBufferInfo, kFwdBindingCount> descriptors{};
  FwdPushConstants push;
  // Split-K: the merge of the workspace's partial results into O and LSE.
  std::array<VkDescriptorBufferInfo, kMergeBindingCount> merge_descriptors{};
  MergePushConstants merge_push;
  bool wide_rows = false;  // every Q, K, V row starts on 16 bytes: the WIDE_ROWS pipeline runs
  bool fallback = false;   // a coopmat2 plan's call with a view off 16 bytes: the coopmat fallback runs
  DropoutRng dropout;      // desc.dropout: the call's seed and offset (record_dropout_rng)
  // desc.qk: the call's Q, K, weights and positions, which the transforms read (the descriptors
  // above bind the transformed Q' and K').
  std::optional<ForwardTensors> qk_inputs;
};

}  // namespace

struct ForwardPlan::Impl : PlanCore<FwdVariant> {
  Kernel kernel;
  // Coopmat plans: the same kernel with WIDE_ROWS = 1, for calls whose Q, K, V rows all start on
  // 16 bytes (BoundForward::wide_rows); empty otherwise.
  Kernel kernel_wide;
  // Coopmat2 plans (whose `kernel` is attn_fwd_cm2 with WIDE_ROWS = 1): the coopmat kernel
  // (plan_cm2_fallback) and its grid, for calls with a Q, K, V or O view off 16 bytes.
  Kernel fallback;
  WorkgroupCount fallback_grid{};
  BufferAlloc params;  // AttnParamsHeader + sequence table, written once at creation
  BufferAlloc pages;   // a paged cache's host block table, written once at creation
  // Split-K (SPLITS > 1): partial O and LSE per split (attn_fwd.comp), and their merge.
  BufferAlloc work;
  Kernel merge;
  WorkgroupCount merge_grid{};
  MergePushConstants merge_constants;  // the merge's push constants but the call's O and LSE
  WorkgroupCount grid{};               // the forward kernel's (fwd_grid), fixed by the plan

  using PlanCore::PlanCore;

  // Split-K: the workspace and the kernel that merges it into O (and LSE when the plan writes it).
  Status create_merge(const Device& device, PipelineRegistry& pipelines) {
    const AttentionDesc& d = problem.desc;
    MergeDesc md;
    md.dtype = d.dtype;
    md.part_dtype = DType::kF32;
    md.batch = problem.seq_mode == SeqMode::kVarlen ? 1 : d.batch;
    md.heads = d.q_heads;
    md.seq = problem.seq_mode == SeqMode::kVarlen ? problem.total_q : problem.seq_q;
    md.head_dim_v = problem.head_dim_v;
    md.num_parts = variant.spec.splits;
    md.write_lse = d.write_lse;
    Result<MergeSpecConstants> spec = plan_merge(md, device.info.max_workgroup_invocations);
    if (!spec) return spec.status();
    Result<WorkgroupCount> mgrid = vkattn::merge_grid(md.batch * md.heads * md.seq, device.info);
    if (!mgrid) return mgrid.status();
    merge_grid = *mgrid;
    set_merge_constants();
    const auto map = merge_spec_map();
    const KernelBuild build{ShaderId::kAttnMerge, spec_words(*spec), map, variant.name + ".merge", kMergeBindingCount,
                            sizeof(MergePushConstants)};
    Result<Kernel> k = Kernel::create(device, pipelines, build);
    if (!k) return k.status();
    merge = std::move(k).value();
    VKATTN_TRY(allocate(device, split_workspace_bytes(problem, variant.spec), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 0,
                        VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, work));
    device.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(work.buffer), variant.name + ".work");
    return Status::ok();
  }

  std::unique_ptr<QKPrep> qk;  // desc.qk: the transforms of Q and K (plans/qk_prep.hpp)

  // The call's views checked, then, with desc.qk, bound again with Q and K replaced by the
  // transformed Q' and K'.
  Result<BoundForward> bind(const ForwardTensors& t) const {
    Result<BoundForward> b = bind_views(t);
    if (!b || !qk) return b;
    VKATTN_TRY(qk->check(qk_inputs_of(t)));
    ForwardTensors inner = t;
    inner.q = qk->q_view(t.q);
    inner.k = qk->k_view(t.k);
    b = bind_views(inner);
    if (b) b->qk_inputs = t;
    return b;
  }

  Result<BoundForward> bind_views(const ForwardTensors& t) const {
    if (!qk && (t.q_norm_weight || t.k_norm_weight || t.q_positions || t.k_positions)) {
      return invalid(std::string(t.q_norm_weight ? "q_norm_weight" : t.k_norm_weight ? "k_norm_weight"
                                 : t.q_positions ? "q_positions" : "k_positions") +
                     " is given but desc.qk sets no QK-norm or RoPE");
    }
    using Role = ViewChecker::Role;
    ViewChecker views(*context_state(*ctx).device, problem);
    Result<BoundView> q = views.input(Role::kQ, "q", t.q);
    if (!q) return q.status();
    Result<BoundView> k = views.input(Role::kK, "k", t.k);
    if (!k) return k.status();
    Result<BoundView> v = views.input(Role::kV, "v", t.v);
    if (!v) return v.status();
    Result<BoundAux> aux = views.aux({t.bias, t.alibi_slopes, t.rel_pos_table, t.sinks, t.doc_ids_q, t.doc_ids_kv});
    if (!aux) return aux.status();
    Result<BoundTables> tables = views.tables(t.block_table, t.cache_lens);
    if (!tables) return tables.status();
    Result<BoundView> o = views.output(Role::kO, "o", t.o);
    if (!o) return o.status();

    BoundForward b;
    const VkDescriptorBufferInfo params_desc{params.buffer, 0, params.size};
    b.descriptors.fill(params_desc);  // bindings of disabled features read nothing
    b.descriptors[kFwdQ] = q->descriptor;
    b.descriptors[kFwdK] = k->descriptor;
    b.descriptors[kFwdV] = v->descriptor;
    b.descriptors[kFwdO] = o->descriptor;
    b.descriptors[kFwdLse] = o->descriptor;  // bound to O when no LSE is written (never touched)
    FwdPushConstants& p = b.push;
    if (problem.desc.write_lse) {
      if (!t.lse.has_value()) return invalid("lse is missing but the plan writes LSE (desc.write_lse = true)");
      Result<BoundView> l = views.output(Role::kLse, "lse", *t.lse);
      if (!l) return l.status();
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *o, "o", t.o));
      b.descriptors[kFwdLse] = l->descriptor;
      set_addressing(views.addressing(*l, Role::kLse), p.lse_offset, p.lse_stride_b, p.lse_stride_h, p.lse_stride_s);
    } else if (t.lse.has_value()) {
      return invalid("lse is given but the plan does not write LSE (desc.write_lse = false)");
    }
    set_addressing(views.addressing(*q, Role::kQ), p.q_offset, p.q_stride_b, p.q_stride_h, p.q_stride_s);
    set_addressing(views.addressing(*k, Role::kK), p.k_offset, p.k_stride_b, p.k_stride_h, p.k_stride_s);
    set_addressing(views.addressing(*v, Role::kV), p.v_offset, p.v_stride_b, p.v_stride_h, p.v_stride_s);
    set_addressing(views.addressing(*o, Role::kO), p.o_offset, p.o_stride_b, p.o_stride_h, p.o_stride_s);
    apply_aux(*aux, {kFwdBias, kFwdSlopes, kFwdTable, kFwdSinks, kFwdDocsQ, kFwdDocsK}, b.descriptors, p);
    b.descriptors[kFwdWork] = params_desc;
    if (pages.buffer != VK_NULL_HANDLE) {  // host block table
      b.descriptors[kFwdPages] = {pages.buffer, 0, pages.size};
      p.pages_stride_b = static_cast<std::uint32_t>(problem.desc.paged_kv.max_blocks);
    }
    if (tables->block_table) {  // device tables
      b.descriptors[kFwdPages] = tables->block_table->descriptor;
      p.pages_offset = tables->block_table->element_offset;
      p.pages_stride_b = tables->block_table->strides[0];
      b.descriptors[kFwdCacheLens] = tables->cache_lens->descriptor;
      p.lens_offset = tables->cache_lens->element_offset;
    }
    if (!merge.empty()) bind_merge(b, *o, t.lse.has_value() ? &b.descriptors[kFwdLse] : nullptr, p);
    b.dropout = t.dropout;
    b.wide_rows = !kernel_wide.empty() && rows_on_16_bytes(views.addressing(*q, Role::kQ)) &&
                  rows_on_16_bytes(views.addressing(*k, Role::kK)) && rows_on_16_bytes(views.addressing(*v, Role::kV));
    if (!fallback.empty()) {
      const Problem& pr = problem;
      const std::int64_t rows_q = token_rows(pr, false), rows_k = token_rows(pr, true);
      b.fallback = !(cm2_addressable(q->descriptor, views.addressing(*q, Role::kQ), pr.desc.head_dim, rows_q) &&
                     cm2_addressable(k->descriptor, views.addressing(*k, Role::kK), pr.desc.head_dim, rows_k) &&
                     cm2_addressable(v->descriptor, views.addressing(*v, Role::kV), pr.head_dim_v, rows_k) &&
                     cm2_addressable(o->descriptor, views.addressing(*o, Role::kO), pr.head_dim_v, rows_q));
    }
    return b;
  }

  // The merge's push constants that do not depend on the call, set once by create_merge: it reads
  // the workspace's splits as attn_fwd.comp wrote them (O at split * split_stride_o +
  // work_row * Dv, LSE after all O parts at split * work_rows + work_row, work_row =
  // b * work_stride_b + h * work_stride_h + token), rows (b, h, token) of dense B x Hq x Sq or, for
  // varlen, one "batch" of Hq x Tq packed tokens.
  void set_merge_constants() {
    const AttnParamsHeader h = attn_params_header(problem);
    const std::uint32_t dv = static_cast<std::uint32_t>(problem.head_dim_v);
    MergePushConstants& m = merge_constants;
    m.o_parts_stride_b = h.work_stride_b * dv, m.o_parts_stride_h = h.work_stride_h * dv, m.o_parts_stride_s = dv;
    m.o_part_stride = h.split_stride_o;
    m.lse_parts_offset = variant.spec.splits * h.split_stride_o;
    m.lse_parts_stride_b = h.work_stride_b, m.lse_parts_stride_h = h.work_stride_h, m.lse_parts_stride_s = 1;
    m.lse_part_stride = h.split_stride_lse;
    m.num_parts = variant.spec.splits;
    m.heads = static_cast<std::uint32_t>(problem.desc.q_heads);
    m.seq = static_cast<std::uint32_t>(problem.seq_mode == SeqMode::kVarlen ? problem.total_q : problem.seq_q);
    m.rows = h.work_rows;
  }

  // A call's merge: the workspace in, the call's O and LSE out.
  void bind_merge(BoundForward& b, const BoundView& o, const VkDescriptorBufferInfo* lse, const FwdPushConstants& p) const {
    b.descriptors[kFwdWork] = {work.buffer, 0, work.size};
    b.merge_descriptors[kMergeOParts] = {work.buffer, 0, work.size};
    b.merge_descriptors[kMergeLseParts] = {work.buffer, 0, work.size};
    b.merge_descriptors[kMergeO] = o.descriptor;
    b.merge_descriptors[kMergeLse] = lse != nullptr ? *lse : o.descriptor;
    MergePushConstants& m = b.merge_push;
    m = merge_constants;
    m.o_offset = p.o_offset, m.o_stride_b = p.o_stride_b, m.o_stride_h = p.o_stride_h, m.o_stride_s = p.o_stride_s;
    m.lse_offset = p.lse_offset, m.lse_stride_b = p.lse_stride_b, m.lse_stride_h = p.lse_stride_h;
    m.lse_stride_s = p.lse_stride_s;
  }

  Status record_bound(VkCommandBuffer cmd, const BoundForward& b) {
    Kernel& k = b.fallback ? fallback : b.wide_rows ? kernel_wide : kernel;
    VKATTN_TRY(k.reserve(b.descriptors));  // the steps that can fail: before any command
    if (!merge.empty()) {
      VKATTN_TRY(merge.reserve(b.merge_descriptors));
      compute_barrier(cmd);  // an earlier recording of this plan may still read the workspace
    }
    if (qk) {
      const ForwardTensors& in = *b.qk_inputs;
      compute_barrier(cmd);  // an earlier recording may still read Q' and K'
      VKATTN_TRY(qk->record_forward(cmd, qk_inputs_of(in)));
      compute_barrier(cmd);  // Q', K' written -> read
    }
    if (problem.desc.dropout.enabled()) record_dropout_rng(cmd, params.buffer, b.dropout);
    VKATTN_TRY(k.record(cmd, b.descriptors, b.push, b.fallback ? fallback_grid : grid));
    if (merge.empty()) return Status::ok();
    compute_barrier(cmd);  // partial results written -> merged
    return merge.record(cmd, b.merge_descriptors, b.merge_push, merge_grid);
  }
};

ForwardPlan::ForwardPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ForwardPlan::ForwardPlan(ForwardPlan&&) noexcept = default;
ForwardPlan& ForwardPlan::operator=(ForwardPlan&&) noexcept = default;
ForwardPlan::~ForwardPlan() = default;

Result<ForwardPlan> ForwardPlan::create(Context& ctx, const AttentionDesc& desc) {
  ContextState& s = context_state(ctx);
  const Device& device = *s.device;
  Result<FwdVariant> variant = plan_forward(desc, device.info, s.overrides);
  if (!variant) return variant.status();
  auto impl = std::make_unique<Impl>(ctx, std::move(variant).value());
  const FwdVariant& v = impl->variant;
  const auto spec_map = fwd_spec_map();
  const ShaderId fwd_cm = v.path.khr ? ShaderId::kAttnFwdCmKhr : ShaderId::kAttnFwdCm;
  KernelBuild build{v.path.cm2 ? ShaderId::kAttnFwdCm2 : v.path.coopmat ? fwd_cm : ShaderId::kAttnFwd,
                    spec_words(v.spec),
                    spec_map,
                    v.name,
                    kFwdBindingCount,
                    sizeof(FwdPushConstants)};
  if (v.path.cm2) {
    // Run for aligned calls only (tensor loads start on 16 bytes), so always with WIDE_ROWS = 1;
    // the rest run the coopmat fallback.
    FwdSpecConstants wide = v.spec;
    wide.wide_rows = 1;
    build.spec_words = spec_words(wide);
    Result<FwdVariant> fb = plan_cm2_fallback(v, device.info);
    if (!fb) return fb.status();
    const KernelBuild fb_build{fb->path.khr ? ShaderId::kAttnFwdCmKhr : ShaderId::kAttnFwdCm,
                               spec_words(fb->spec),
                               spec_map,
                               fb->name,
                               kFwdBindingCount,
                               sizeof(FwdPushConstants)};
    Result<Kernel> k = Kernel::create(device, *s.pipelines, fb_build);
    if (!k) return k.status();
    impl->fallback = std::move(k).value();
    impl->fallback_grid = fwd_grid(impl->problem, fb->spec);
  }
  Result<Kernel> kernel = Kernel::create(device, *s.pipelines, build);
  if (!kernel) return kernel.status();
  impl->kernel = std::move(kernel).value();
  if (v.path.coopmat) {
    FwdSpecConstants wide = v.spec;
    wide.wide_rows = 1;
    build.spec_words = spec_words(wide);
    build.name = v.name + ".wide_rows";
    Result<Kernel> k = Kernel::create(device, *s.pipelines, build);
    if (!k) return k.status();
    impl->kernel_wide = std::move(k).value();
  }
  VKATTN_TRY(create_host_written_buffer(device, attn_params_bytes(impl->problem), impl->params,
                                        desc.dropout.enabled() ? VK_BUFFER_USAGE_TRANSFER_DST_BIT : 0));
  device.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->params.buffer), v.name + ".params");
  impl->grid = fwd_grid(impl->problem, v.spec);
  if (desc.qk.enabled()) {
    Result<std::unique_ptr<QKPrep>> qk = QKPrep::create(ctx, impl->problem, false);
    if (!qk) return qk.status();
    impl->qk = std::move(qk).value();
    impl->variant.name += qk_variant_suffix(desc.qk);
  }
  if (v.spec.splits > 1) VKATTN_TRY(impl->create_merge(device, *s.pipelines));
  const std::vector<std::int32_t>& table = desc.paged_kv.block_table;
  if (desc.paged_kv.enabled() && !table.empty()) {
    VKATTN_TRY(create_host_written_buffer(device, std::as_bytes(std::span(table)), impl->pages));
  }
  return ForwardPlan(std::move(impl));
}

const std::string& ForwardPlan::variant_name() const { return impl_->variant.name; }
const std::string& ForwardPlan::path_reason() const { return impl_->variant.path.reason; }
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
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_bound(cmd, b.value()); });
}

void ForwardPlan::release_descriptor_sets() {
  impl_->kernel.release_sets();
  impl_->kernel_wide.release_sets();
  impl_->fallback.release_sets();
  impl_->merge.release_sets();
  if (impl_->qk) impl_->qk->release_descriptor_sets();
}

Result<std::string> forward_variant_name(Context& ctx, const AttentionDesc& desc) {
  const ContextState& s = context_state(ctx);
  Result<FwdVariant> variant = plan_forward(desc, s.device->info, s.overrides);
  if (!variant) return variant.status();
  return variant->name;
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
