#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"
#include "kernels/attn_bwd_interface.hpp"
#include "kernels/kernel.hpp"
#include "planning/attn_params.hpp"
#include "planning/attn_views.hpp"
#include "planning/bwd_tiles.hpp"
#include "planning/planner.hpp"
#include "plans/dropout_rng.hpp"
#include "plans/plan_core.hpp"
#include "plans/qk_prep.hpp"
#include "plans/run_isolated.hpp"
#include "vkattn/backward.hpp"
#include "vkattn/context.hpp"

namespace vkattn {
namespace {

// Validated tensors of one call, ready to bind.
struct BoundBackward {
  std::array<VkDescriptorBufferInfo, kPreBindingCount> pre{};
  std::array<VkDescriptorBufferInfo, kBwdBindingCount> dq{};
  std::array<VkDescriptorBufferInfo, kBwdBindingCount> dkdv{};
  BwdPrePushConstants pre_push;
  BwdPushConstants dq_push;
  BwdPushConstants dkdv_push;
  bool wide_rows = false;  // every Q, K, V, dO row starts on 16 bytes: the WIDE_ROWS kernels run
  DropoutRng dropout;      // desc.dropout: the forward call's seed and offset (record_dropout_rng)
  // desc.qk: the call's tensors, which the transforms read and write (the descriptors bind Q', K',
  // dQ', dK').
  std::optional<BackwardTensors> qk_inputs;
  // Parameter gradients requested by this call: which, descriptors, push constants, grid.
  struct Param {
    BwdParam which = BwdParam::kNone;
    std::array<VkDescriptorBufferInfo, kBwdBindingCount> descriptors{};
    BwdParamPushConstants push;
    std::array<std::uint32_t, 3> grid{};
  };
  std::array<Param, 3> params{};
  std::size_t param_count = 0;
};

// Builds a backward kernel of the plan named `name`.
template <class Push>
Result<Kernel> make_kernel(ContextState& s, ShaderId shader, const BwdSpecConstants& spec, const std::string& name,
                           std::uint32_t bindings) {
  const auto spec_map = bwd_spec_map();
  return Kernel::create(*s.device, *s.pipelines,
                        KernelBuild{shader, spec_words(spec), spec_map, name, bindings, sizeof(Push)});
}

// Binding indices of the mask and score_mod inputs in the dq/dkdv/dparam layout.
constexpr AuxBindings kBwdAux{kBwdBias, kBwdSlopes, kBwdTable, kBwdSinks, kBwdDocsQ, kBwdDocsK};

// The inputs every dq/dkdv/dparam dispatch reads, as their push blocks address them.
struct BwdInputs {
  Addressing q, k, v, d_o;
  BoundAux aux;
};

// Writes the fields the three kernels' push blocks share (binding the aux inputs into `d`).
template <class Push>
void write_inputs(const BwdInputs& in, std::array<VkDescriptorBufferInfo, kBwdBindingCount>& d, Push& p) {
  set_addressing(in.q, p.q_offset, p.q_stride_b, p.q_stride_h, p.q_stride_s);
  set_addressing(in.k, p.k_offset, p.k_stride_b, p.k_stride_h, p.k_stride_s);
  set_addressing(in.v, p.v_offset, p.v_stride_b, p.v_stride_h, p.v_stride_s);
  set_addressing(in.d_o, p.do_offset, p.do_stride_b, p.do_stride_h, p.do_stride_s);
  apply_aux(in.aux, kBwdAux, d, p);
}

std::uint32_t groups(std::int64_t rows, std::uint32_t block) {
  return static_cast<std::uint32_t>((rows + block - 1) / block);
}

}  // namespace

struct BackwardPlan::Impl : PlanCore<BwdVariant> {
  const BwdSpecConstants& spec = variant.spec;
  BackwardOptions options;
  // Every kernel the plan may run, by slot; those it does not need stay empty. kDqWide and
  // kDkdvWide: on coopmat plans, dq and dkdv with WIDE_ROWS = 1, for calls whose Q, K, V, dO rows
  // all start on 16 bytes (BoundBackward::wide_rows). kDbias..kDsinks: the parameter gradients of
  // the score_mods the desc enables.
  enum Slot : std::size_t { kPre, kDq, kDkdv, kDqWide, kDkdvWide, kDbias, kDtable, kDsinks, kSlots };
  std::array<Kernel, kSlots> kernels;
  static constexpr Slot param_slot(BwdParam which) {
    return which == BwdParam::kBias ? kDbias : which == BwdParam::kTable ? kDtable : kDsinks;
  }
  BufferAlloc params;  // AttnParamsHeader + sequence table
  BufferAlloc work;    // lse2 and delta per query row (attn_bwd_pre.comp)
  // Coopmat2 plans: kDqWide and kDkdvWide hold attn_bwd_*_cm2 (built with WIDE_ROWS = 1, run for
  // calls whose Q, K, V, dO, dQ, dK and dV all lie on 16 bytes: tensor loads start there), kDq and
  // kDkdv the coopmat fallback (plan_cm2_fallback) for other calls, with these tiles.
  std::optional<BwdSpecConstants> fallback_spec;

  using PlanCore::PlanCore;

  std::unique_ptr<QKPrep> qk;  // desc.qk: the transforms of Q and K (plans/qk_prep.hpp)

  // The call's views checked, then, with desc.qk, bound again with Q, K, dQ, dK replaced by the
  // plan's Q', K', dQ', dK'.
  Result<BoundBackward> bind(const BackwardTensors& t) const {
    Result<BoundBackward> b = bind_views(t);
    if (!b || !qk) return b;
    VKATTN_TRY(qk->check(qk_inputs_of(t)));
    VKATTN_TRY(qk->check_grads(t.dq_norm_weight, t.dk_norm_weight));
    BackwardTensors inner = t;
    inner.q = qk->q_view(t.q);
    inner.k = qk->k_view(t.k);
    inner.dq = qk->dq_view(t.dq);
    inner.dk = qk->dk_view(t.dk);
    b = bind_views(inner);
    if (b) b->qk_inputs = t;
    return b;
  }

  Result<BoundBackward> bind_views(const BackwardTensors& t) const {
    if (!qk && (t.q_norm_weight || t.k_norm_weight || t.q_positions || t.k_positions || t.dq_norm_weight ||
                t.dk_norm_weight)) {
      return invalid("a QK-norm or RoPE tensor is given (q_norm_weight, k_norm_weight, q_positions, k_positions, "
                     "dq_norm_weight or dk_norm_weight) but desc.qk sets none");
    }
    using Role = ViewChecker::Role;
    ViewChecker views(*context_state(*ctx).device, problem);
    Result<BoundView> q = views.input(Role::kQ, "q", t.q);
    if (!q) return q.status();
    Result<BoundView> k = views.input(Role::kK, "k", t.k);
    if (!k) return k.status();
    Result<BoundView> v = views.input(Role::kV, "v", t.v);
    if (!v) return v.status();
    Result<BoundView> o = views.input(Role::kO, "o", t.o);
    if (!o) return o.status();
    Result<BoundView> d_o = views.input(Role::kO, "d_o", t.d_o);
    if (!d_o) return d_o.status();
    Result<BoundView> lse = views.input(Role::kLse, "lse", t.lse);
    if (!lse) return lse.status();
    Result<BoundAux> aux = views.aux({t.bias, t.alibi_slopes, t.rel_pos_table, t.sinks, t.doc_ids_q, t.doc_ids_kv});
    if (!aux) return aux.status();
    Result<BoundView> dq = views.output(Role::kQ, "dq", t.dq);
    if (!dq) return dq.status();
    Result<BoundView> dk = views.output(Role::kK, "dk", t.dk);
    if (!dk) return dk.status();
    Result<BoundView> dv = views.output(Role::kV, "dv", t.dv);
    if (!dv) return dv.status();
    VKATTN_TRY(check_no_overlap(*dk, "dk", t.dk, *dq, "dq", t.dq));
    VKATTN_TRY(check_no_overlap(*dv, "dv", t.dv, *dq, "dq", t.dq));
    VKATTN_TRY(check_no_overlap(*dv, "dv", t.dv, *dk, "dk", t.dk));

    BoundBackward b;
    const VkDescriptorBufferInfo params_desc{params.buffer, 0, params.size};
    const VkDescriptorBufferInfo work_desc{work.buffer, 0, work.size};
    b.pre = {o->descriptor, d_o->descriptor, lse->descriptor, params_desc, work_desc};
    BwdPrePushConstants& pp = b.pre_push;
    set_addressing(views.addressing(*o, Role::kO), pp.o_offset, pp.o_stride_b, pp.o_stride_h, pp.o_stride_s);
    set_addressing(views.addressing(*d_o, Role::kO), pp.do_offset, pp.do_stride_b, pp.do_stride_h, pp.do_stride_s);
    set_addressing(views.addressing(*lse, Role::kLse), pp.lse_offset, pp.lse_stride_b, pp.lse_stride_h,
                   pp.lse_stride_s);

    // dq and dkdv share one layout; they differ in their outputs.
    std::array<VkDescriptorBufferInfo, kBwdBindingCount> common{};
    common.fill(params_desc);  // bindings of disabled features read nothing
    common[kBwdQ] = q->descriptor;
    common[kBwdK] = k->descriptor;
    common[kBwdV] = v->descriptor;
    common[kBwdDo] = d_o->descriptor;
    common[kBwdWork] = work_desc;
    const BwdInputs inputs{views.addressing(*q, Role::kQ), views.addressing(*k, Role::kK),
                           views.addressing(*v, Role::kV), views.addressing(*d_o, Role::kO), *aux};
    BwdPushConstants p;
    write_inputs(inputs, common, p);
    if (!fallback_spec) {
      b.wide_rows = !kernels[kDqWide].empty() && rows_on_16_bytes(inputs.q) && rows_on_16_bytes(inputs.k) &&
                    rows_on_16_bytes(inputs.v) && rows_on_16_bytes(inputs.d_o);
    } else {  // coopmat2: its kernels (the wide slots) where every tensor is addressable, else the fallback
      const std::int64_t rq = token_rows(problem, false), rk = token_rows(problem, true);
      const std::int64_t dk_ = problem.desc.head_dim, dv_ = problem.head_dim_v;
      b.wide_rows = cm2_addressable(q->descriptor, inputs.q, dk_, rq) && cm2_addressable(k->descriptor, inputs.k, dk_, rk) &&
                    cm2_addressable(v->descriptor, inputs.v, dv_, rk) && cm2_addressable(d_o->descriptor, inputs.d_o, dv_, rq) &&
                    cm2_addressable(dq->descriptor, views.addressing(*dq, Role::kQ), dk_, rq) &&
                    cm2_addressable(dk->descriptor, views.addressing(*dk, Role::kK), dk_, rk) &&
                    cm2_addressable(dv->descriptor, views.addressing(*dv, Role::kV), dv_, rk);
    }

    b.dq = common;
    b.dq[kBwdOut0] = dq->descriptor;
    b.dq[kBwdOut1] = dq->descriptor;  // unused by attn_bwd_dq
    b.dq_push = p;
    set_addressing(views.addressing(*dq, Role::kQ), b.dq_push.out0_offset, b.dq_push.out0_stride_b,
                   b.dq_push.out0_stride_h, b.dq_push.out0_stride_s);
    b.dkdv = common;
    b.dkdv[kBwdOut0] = dk->descriptor;
    b.dkdv[kBwdOut1] = dv->descriptor;
    b.dkdv_push = p;
    BwdPushConstants& pk = b.dkdv_push;
    set_addressing(views.addressing(*dk, Role::kK), pk.out0_offset, pk.out0_stride_b, pk.out0_stride_h,
                   pk.out0_stride_s);
    set_addressing(views.addressing(*dv, Role::kV), pk.out1_offset, pk.out1_stride_b, pk.out1_stride_h,
                   pk.out1_stride_s);
    VKATTN_TRY(bind_params(t, views, inputs, common, {&*dq, &*dk, &*dv}, b));
    b.dropout = t.dropout;
    return b;
  }

  // The parameter gradients `t` asks for: checked (shape, dtype, overlap, llvmpipe's loop
  // budget) and added to `b`.
  Status bind_params(const BackwardTensors& t, ViewChecker& views, const BwdInputs& inputs,
                     const std::array<VkDescriptorBufferInfo, kBwdBindingCount>& common,
                     std::array<const BoundView*, 3> grads, BoundBackward& b) const {
    const AttentionDesc& d = problem.desc;
    const Device& s = *context_state(*ctx).device;
    const auto Hq = static_cast<std::uint32_t>(d.q_heads);
    const std::int64_t rows = d.batch * problem.seq_q;  // query rows feeding a table entry or a sink
    struct Request {
      const std::optional<TensorView>* view;
      const char* name;
      BwdParam which;
      bool enabled;
      const char* feature;
    };
    const Request requests[] = {
        {&t.dbias, "dbias", BwdParam::kBias, d.score_mod.bias.has_value(), "desc.score_mod.bias"},
        {&t.drel_pos_table, "drel_pos_table", BwdParam::kTable, d.score_mod.rel_pos_max_distance.has_value(),
         "desc.score_mod.rel_pos_max_distance"},
        {&t.dsinks, "dsinks", BwdParam::kSinks, d.score_mod.sinks, "desc.score_mod.sinks"},
    };
    std::vector<std::pair<const char*, BoundView>> written;
    for (const BoundView* g : grads) written.emplace_back("dq, dk or dv", *g);
    for (const Request& r : requests) {
      if (!r.view->has_value()) continue;
      if (!r.enabled) return invalid(std::string(r.name) + " is given but " + r.feature + " is not set");
      std::vector<std::int64_t> shape;
      std::vector<const char*> names;
      bool dense = false;
      if (r.which == BwdParam::kBias) {
        const TensorView& bias = *t.bias;
        shape.assign(bias.shape.begin(), bias.shape.begin() + bias.rank);
        names = {"B or 1, as bias", "Hq or 1, as bias", "Sq or 1, as bias", "Sk"};
      } else if (r.which == BwdParam::kTable) {
        shape = {d.q_heads, 2 * *d.score_mod.rel_pos_max_distance + 1};
        names = {"Hq", "2M + 1"};
      } else {
        shape = {d.q_heads};
        names = {"Hq"};
        dense = true;
      }
      const ViewRequirement req{r.name, shape, names, DType::kF32, true, true, false, dense};
      Result<BoundView> out = views.output(r.name, **r.view, req);
      if (!out) return out.status();
      for (const auto& [other, bound] : written) {
        if (bound.descriptor.buffer == out->descriptor.buffer && bound.first_byte < out->end_byte &&
            out->first_byte < bound.end_byte) {
          return invalid(std::string(r.name) + " overlaps " + other + " in the same buffer");
        }
      }
      written.emplace_back(r.name, *out);

      BoundBackward::Param& prm = b.params[b.param_count++];
      prm.which = r.which;
      prm.descriptors = common;
      prm.descriptors[kBwdOut0] = out->descriptor;
      prm.descriptors[kBwdOut1] = out->descriptor;  // unused
      BwdParamPushConstants& pp = prm.push;
      write_inputs(inputs, prm.descriptors, pp);
      pp.out_offset = out->element_offset;
      std::uint64_t loop_iterations = 0;  // per invocation, for llvmpipe's budget
      if (r.which == BwdParam::kBias) {
        pp.out_stride_b = out->strides[0], pp.out_stride_h = out->strides[1], pp.out_stride_q = out->strides[2];
        pp.extent_b = static_cast<std::uint32_t>(shape[0]), pp.extent_h = static_cast<std::uint32_t>(shape[1]);
        pp.extent_q = static_cast<std::uint32_t>(shape[2]);
        prm.grid = {static_cast<std::uint32_t>(shape[3]), pp.extent_q, pp.extent_b * pp.extent_h};
        const std::int64_t count =
            (shape[0] == 1 ? d.batch : 1) * (shape[1] == 1 ? d.q_heads : 1) * (shape[2] == 1 ? problem.seq_q : 1);
        loop_iterations = static_cast<std::uint64_t>((count + spec.block_rows - 1) / spec.block_rows) * 2;
      } else {
        const bool table = r.which == BwdParam::kTable;
        if (table) pp.out_stride_h = out->strides[0];
        prm.grid = table ? std::array<std::uint32_t, 3>{static_cast<std::uint32_t>(shape[1]), Hq, 1}
                         : std::array<std::uint32_t, 3>{Hq, 1, 1};
        const std::uint64_t keys = table ? static_cast<std::uint64_t>(problem.seq_k) : 0;
        loop_iterations = static_cast<std::uint64_t>((rows + spec.block_rows - 1) / spec.block_rows) * (1 + keys);
      }
      for (std::size_t axis = 0; axis < 3; ++axis) {
        if (prm.grid[axis] > s.info.max_workgroup_count[axis]) {
          return Status(ErrorCode::kUnsupported, std::string(r.name) + " needs " + std::to_string(prm.grid[axis]) +
                                                     " workgroups on axis " + std::to_string(axis) +
                                                     ", more than maxComputeWorkGroupCount allows");
        }
      }
      if (s.info.max_loop_iterations != 0 && loop_iterations + 8 > s.info.max_loop_iterations) {
        return Status(ErrorCode::kUnsupported, std::string(r.name) + " needs " + std::to_string(loop_iterations) +
                                                   " loop iterations per invocation; " + s.info.name +
                                                   " ends shaders after " + std::to_string(s.info.max_loop_iterations) +
                                                   " (llvmpipe's loop limit)");
      }
    }
    return Status::ok();
  }

  // The dq and dkdv kernels a call runs: the 16-byte-row builds where its views allow them.
  Kernel& dq_for(const BoundBackward& b) { return kernels[b.wide_rows ? kDqWide : kDq]; }
  Kernel& dkdv_for(const BoundBackward& b) { return kernels[b.wide_rows ? kDkdvWide : kDkdv]; }

  // Every pooled descriptor set of the call, made before the first command is recorded: a failed
  // allocation (out of memory) then returns with the command buffer untouched, and the binds
  // below cannot fail.
  Status reserve_sets(const BoundBackward& b) {
    VKATTN_TRY(kernels[kPre].reserve(b.pre));
    VKATTN_TRY(dq_for(b).reserve(b.dq));
    VKATTN_TRY(dkdv_for(b).reserve(b.dkdv));
    for (std::size_t n = 0; n < b.param_count; ++n) {
      const BoundBackward::Param& prm = b.params[n];
      VKATTN_TRY(kernels[param_slot(prm.which)].reserve(prm.descriptors));
    }
    return Status::ok();
  }

  Status record_bound(VkCommandBuffer cmd, const BoundBackward& b) {
    const AttentionDesc& d = problem.desc;
    const std::uint32_t rows = spec.block_rows;
    VKATTN_TRY(reserve_sets(b));
    compute_barrier(cmd);  // an earlier recording of this plan may still read the workspace
    if (qk) {
      const BackwardTensors& in = *b.qk_inputs;
      VKATTN_TRY(qk->record_forward(cmd, qk_inputs_of(in)));
      compute_barrier(cmd);  // Q', K' written -> read
    }
    if (d.dropout.enabled()) record_dropout_rng(cmd, params.buffer, b.dropout);
    const auto q_heads = static_cast<std::uint32_t>(d.batch * d.q_heads);
    VKATTN_TRY(kernels[kPre].record(cmd, b.pre, b.pre_push, {groups(problem.seq_q, rows), q_heads, 1}));
    compute_barrier(cmd);  // workspace written -> read
    // z: the head dim's chunks of dQ and of dK, dV (coopmat, head dims past 128; else 1). A coopmat2
    // plan's fallback has tiles of its own.
    const BwdSpecConstants& s = fallback_spec && !b.wide_rows ? *fallback_spec : spec;
    const std::uint32_t dq_chunks = cm_bwd_chunks(s, BwdKernel::kDq);
    const std::uint32_t dkdv_chunks = cm_bwd_chunks(s, BwdKernel::kDkdv);
    VKATTN_TRY(dq_for(b).record(cmd, b.dq, b.dq_push, {groups(problem.seq_q, s.block_rows), q_heads, dq_chunks}));
    const auto kv_heads = static_cast<std::uint32_t>(d.batch * problem.kv_heads);
    VKATTN_TRY(dkdv_for(b).record(cmd, b.dkdv, b.dkdv_push,
                                  {groups(problem.seq_k, s.block_rows), kv_heads, dkdv_chunks}));
    for (std::size_t n = 0; n < b.param_count; ++n) {
      const BoundBackward::Param& prm = b.params[n];
      VKATTN_TRY(kernels[param_slot(prm.which)].record(cmd, prm.descriptors, prm.push, prm.grid));
    }
    if (!qk) return Status::ok();
    const BackwardTensors& in = *b.qk_inputs;
    compute_barrier(cmd);  // dQ', dK' written -> read
    return qk->record_backward(cmd, qk_inputs_of(in),
                               in.dq, in.dk, in.dq_norm_weight, in.dk_norm_weight);
  }
};

BackwardPlan::BackwardPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackwardPlan::BackwardPlan(BackwardPlan&&) noexcept = default;
BackwardPlan& BackwardPlan::operator=(BackwardPlan&&) noexcept = default;
BackwardPlan::~BackwardPlan() = default;

Result<BackwardPlan> BackwardPlan::create(Context& ctx, const AttentionDesc& desc, BackwardOptions options) {
  ContextState& s = context_state(ctx);
  if (options.determinism != Determinism::kDeterministic && options.determinism != Determinism::kFast) {
    return invalid("options.determinism = " + std::to_string(static_cast<std::uint32_t>(options.determinism)) +
                   " is not a Determinism value");
  }
  Result<BwdVariant> variant = plan_backward(desc, s.device->info, s.overrides);
  if (!variant) return variant.status();
  auto impl = std::make_unique<Impl>(ctx, std::move(variant).value());
  impl->options = options;
  const BwdVariant& v = impl->variant;
  const bool coopmat = v.path.coopmat;

  Result<Kernel> pre = make_kernel<BwdPrePushConstants>(s, ShaderId::kAttnBwdPre, bwd_pre_spec(v.spec), v.name + ".pre",
                                                        kPreBindingCount);
  if (!pre) return pre.status();
  impl->kernels[Impl::kPre] = std::move(pre).value();
  // dq and dkdv; on the coopmat path also their 16-byte-row builds (WIDE_ROWS = 1).
  struct Build {
    Impl::Slot slot;
    ShaderId shader;
    bool wide;
    const char* suffix;
  };
  const ShaderId dq_cm = v.path.khr ? ShaderId::kAttnBwdDqCmKhr : ShaderId::kAttnBwdDqCm;
  const ShaderId dkdv_cm = v.path.khr ? ShaderId::kAttnBwdDkdvCmKhr : ShaderId::kAttnBwdDkdvCm;
  const Build builds[] = {
      {Impl::kDq, coopmat ? dq_cm : ShaderId::kAttnBwdDq, false, ".dq"},
      {Impl::kDkdv, coopmat ? dkdv_cm : ShaderId::kAttnBwdDkdv, false, ".dkdv"},
      {Impl::kDqWide, dq_cm, true, ".dq.wide_rows"},
      {Impl::kDkdvWide, dkdv_cm, true, ".dkdv.wide_rows"},
  };
  for (const Build& b : builds) {
    if (v.path.cm2 || (b.wide && !coopmat)) continue;
    BwdSpecConstants spec = v.spec;
    spec.wide_rows = b.wide ? 1u : 0u;
    Result<Kernel> k = make_kernel<BwdPushConstants>(s, b.shader, spec, v.name + b.suffix, kBwdBindingCount);
    if (!k) return k.status();
    impl->kernels[b.slot] = std::move(k).value();
  }
  if (v.path.cm2) {
    // The cooperative-matrix-2 kernels (WIDE_ROWS = 1: run only for calls on 16 bytes) in the wide
    // slots, the coopmat fallback with its own tiles in the others.
    BwdSpecConstants wide = v.spec;
    wide.wide_rows = 1;
    Result<BwdVariant> fb = plan_cm2_fallback(v, s.device->info);
    if (!fb) return fb.status();
    const ShaderId fb_dq = fb->path.khr ? ShaderId::kAttnBwdDqCmKhr : ShaderId::kAttnBwdDqCm;
    const ShaderId fb_dkdv = fb->path.khr ? ShaderId::kAttnBwdDkdvCmKhr : ShaderId::kAttnBwdDkdvCm;
    const struct {
      Impl::Slot slot;
      ShaderId shader;
      const BwdSpecConstants& spec;
      std::string name;
    } cm2_builds[] = {{Impl::kDqWide, ShaderId::kAttnBwdDqCm2, wide, v.name + ".dq"},
                      {Impl::kDkdvWide, ShaderId::kAttnBwdDkdvCm2, wide, v.name + ".dkdv"},
                      {Impl::kDq, fb_dq, fb->spec, fb->name + ".dq"},
                      {Impl::kDkdv, fb_dkdv, fb->spec, fb->name + ".dkdv"}};
    for (const auto& b : cm2_builds) {
      Result<Kernel> k = make_kernel<BwdPushConstants>(s, b.shader, b.spec, b.name, kBwdBindingCount);
      if (!k) return k.status();
      impl->kernels[b.slot] = std::move(k).value();
    }
    impl->fallback_spec = fb->spec;
  }
  const struct {
    BwdParam which;
    bool enabled;
    const char* suffix;
  } param_grads[] = {{BwdParam::kBias, desc.score_mod.bias.has_value(), ".dbias"},
                     {BwdParam::kTable, desc.score_mod.rel_pos_max_distance.has_value(), ".dtable"},
                     {BwdParam::kSinks, desc.score_mod.sinks, ".dsinks"}};
  for (const auto& g : param_grads) {
    if (!g.enabled) continue;
    Result<Kernel> k = make_kernel<BwdParamPushConstants>(s, ShaderId::kAttnBwdDparam, bwd_param_spec(v.spec, g.which),
                                                          v.name + g.suffix, kBwdBindingCount);
    if (!k) return k.status();
    impl->kernels[Impl::param_slot(g.which)] = std::move(k).value();
  }

  const Device& device = *s.device;
  const std::vector<std::byte> params = attn_params_bytes(impl->problem);
  VKATTN_TRY(create_host_written_buffer(device, params, impl->params,
                                        desc.dropout.enabled() ? VK_BUFFER_USAGE_TRANSFER_DST_BIT : 0));
  AttnParamsHeader header;
  std::memcpy(&header, params.data(), sizeof header);
  const VkDeviceSize work_bytes = std::max<VkDeviceSize>(2ull * header.work_rows * sizeof(float), 16);
  VKATTN_TRY(allocate(device, work_bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                      impl->work));
  device.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->params.buffer), v.name + ".params");
  device.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->work.buffer), v.name + ".work");
  if (desc.qk.enabled()) {
    Result<std::unique_ptr<QKPrep>> qk = QKPrep::create(ctx, impl->problem, true);
    if (!qk) return qk.status();
    impl->qk = std::move(qk).value();
    impl->variant.name += qk_variant_suffix(desc.qk);
  }
  return BackwardPlan(std::move(impl));
}

const std::string& BackwardPlan::variant_name() const { return impl_->variant.name; }
const std::string& BackwardPlan::path_reason() const { return impl_->variant.path.reason; }
const AttentionDesc& BackwardPlan::desc() const { return impl_->problem.desc; }
const BackwardOptions& BackwardPlan::options() const { return impl_->options; }

Status BackwardPlan::validate(const BackwardTensors& t) const { return impl_->bind(t).status(); }

Status BackwardPlan::record(VkCommandBuffer cmd, const BackwardTensors& t) {
  if (cmd == VK_NULL_HANDLE) return invalid("cmd is VK_NULL_HANDLE");
  Result<BoundBackward> b = impl_->bind(t);
  if (!b) return b.status();
  return impl_->record_bound(cmd, b.value());
}

void BackwardPlan::release_descriptor_sets() {
  for (Kernel& k : impl_->kernels) k.release_sets();
  if (impl_->qk) impl_->qk->release_descriptor_sets();
}

Status BackwardPlan::run(const BackwardTensors& t) {
  Result<BoundBackward> b = impl_->bind(t);
  if (!b) return b.status();
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_bound(cmd, b.value()); });
}

}  // namespace vkattn
