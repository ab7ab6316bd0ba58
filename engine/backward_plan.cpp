#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attn_bwd_interface.hpp"
#include "attn_params.hpp"
#include "attn_views.hpp"
#include "buffer_alloc.hpp"
#include "bwd_variant.hpp"
#include "context_state.hpp"
#include "descriptor_binder.hpp"
#include "pipeline_registry.hpp"
#include "run_isolated.hpp"
#include "vk_util.hpp"
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

// A kernel of the plan: its pipeline and descriptor binder.
struct Kernel {
  std::shared_ptr<const Pipeline> pipeline;
  std::unique_ptr<DescriptorBinder> binder;
};

Result<Kernel> make_kernel(ContextState& s, ShaderId shader, const BwdSpecConstants& spec, const std::string& name,
                           std::uint32_t bindings, std::uint32_t push_bytes) {
  const auto spec_map = bwd_spec_map();
  PipelineKey key;
  key.shader = shader;
  key.spec_words.resize(kBwdSpecCount);
  std::memcpy(key.spec_words.data(), &spec, sizeof(BwdSpecConstants));
  PipelineRecipe recipe{name, spec_map, bindings, push_bytes};
  Result<std::shared_ptr<const Pipeline>> pipeline = s.pipelines->get(key, recipe);
  if (!pipeline) return pipeline.status();
  Kernel k;
  k.pipeline = pipeline.value();
  k.binder = std::make_unique<DescriptorBinder>(s, k.pipeline);
  return k;
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

// Compute writes/reads before -> compute reads/writes after (the workspace between dispatches).
void compute_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                       nullptr, 0, nullptr);
}

std::uint32_t groups(std::int64_t rows, std::uint32_t block) {
  return static_cast<std::uint32_t>((rows + block - 1) / block);
}

}  // namespace

struct BackwardPlan::Impl {
  Context* ctx = nullptr;
  FwdProblem problem;
  BackwardOptions options;
  BwdSpecConstants spec;
  std::string name;
  Kernel pre_kernel, dq_kernel, dkdv_kernel;
  // Coopmat plans: dq and dkdv with WIDE_ROWS = 1, for calls whose Q, K, V, dO rows all start on
  // 16 bytes (BoundBackward::wide_rows); empty otherwise.
  Kernel dq_wide_kernel, dkdv_wide_kernel;
  std::array<Kernel, 4> param_kernels;  // by BwdParam; built for the score_mods the desc enables
  BufferAlloc params;                   // AttnParamsHeader + sequence table
  BufferAlloc work;                     // lse2 and delta per query row (attn_bwd_pre.comp)

  ~Impl() {
    if (ctx != nullptr) ctx->state().live_children.fetch_sub(1);
  }

  Result<BoundBackward> bind(const BackwardTensors& t) const {
    using Role = ViewChecker::Role;
    ViewChecker views(ctx->state(), problem);
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
    b.wide_rows = dq_wide_kernel.pipeline != nullptr && rows_on_16_bytes(inputs.q) && rows_on_16_bytes(inputs.k) &&
                  rows_on_16_bytes(inputs.v) && rows_on_16_bytes(inputs.d_o);

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
    return b;
  }

  // The parameter gradients `t` asks for: checked (shape, dtype, overlap, llvmpipe's loop
  // budget) and added to `b`.
  Status bind_params(const BackwardTensors& t, ViewChecker& views, const BwdInputs& inputs,
                     const std::array<VkDescriptorBufferInfo, kBwdBindingCount>& common,
                     std::array<const BoundView*, 3> grads, BoundBackward& b) const {
    const AttentionDesc& d = problem.desc;
    const ContextState& s = ctx->state();
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
  const Kernel& dq_for(const BoundBackward& b) const { return b.wide_rows ? dq_wide_kernel : dq_kernel; }
  const Kernel& dkdv_for(const BoundBackward& b) const { return b.wide_rows ? dkdv_wide_kernel : dkdv_kernel; }

  // Every pooled descriptor set of the call, made before the first command is recorded: a failed
  // allocation (out of memory) then returns with the command buffer untouched, and the binds
  // below cannot fail.
  Status reserve_sets(const BoundBackward& b) {
    VKATTN_TRY(pre_kernel.binder->reserve(b.pre));
    VKATTN_TRY(dq_for(b).binder->reserve(b.dq));
    VKATTN_TRY(dkdv_for(b).binder->reserve(b.dkdv));
    for (std::size_t n = 0; n < b.param_count; ++n) {
      const BoundBackward::Param& prm = b.params[n];
      VKATTN_TRY(param_kernels[static_cast<std::size_t>(prm.which)].binder->reserve(prm.descriptors));
    }
    return Status::ok();
  }

  Status record_bound(VkCommandBuffer cmd, const BoundBackward& b) {
    const AttentionDesc& d = problem.desc;
    const std::uint32_t rows = spec.block_rows;
    VKATTN_TRY(reserve_sets(b));
    compute_barrier(cmd);  // an earlier recording of this plan may still read the workspace
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pre_kernel.pipeline->handle);
    VKATTN_TRY(pre_kernel.binder->bind(cmd, b.pre));
    vkCmdPushConstants(cmd, pre_kernel.pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(b.pre_push),
                       &b.pre_push);
    vkCmdDispatch(cmd, groups(problem.seq_q, rows), static_cast<std::uint32_t>(d.batch * d.q_heads), 1);
    compute_barrier(cmd);  // workspace written -> read

    const Kernel& dq = dq_for(b);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, dq.pipeline->handle);
    VKATTN_TRY(dq.binder->bind(cmd, b.dq));
    vkCmdPushConstants(cmd, dq.pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(b.dq_push), &b.dq_push);
    vkCmdDispatch(cmd, groups(problem.seq_q, rows), static_cast<std::uint32_t>(d.batch * d.q_heads), 1);

    const Kernel& dkdv = dkdv_for(b);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, dkdv.pipeline->handle);
    VKATTN_TRY(dkdv.binder->bind(cmd, b.dkdv));
    vkCmdPushConstants(cmd, dkdv.pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(b.dkdv_push), &b.dkdv_push);
    vkCmdDispatch(cmd, groups(problem.seq_k, rows), static_cast<std::uint32_t>(d.batch * problem.kv_heads), 1);

    for (std::size_t n = 0; n < b.param_count; ++n) {
      const BoundBackward::Param& prm = b.params[n];
      const Kernel& k = param_kernels[static_cast<std::size_t>(prm.which)];
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline->handle);
      VKATTN_TRY(k.binder->bind(cmd, prm.descriptors));
      vkCmdPushConstants(cmd, k.pipeline->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(prm.push), &prm.push);
      vkCmdDispatch(cmd, prm.grid[0], prm.grid[1], prm.grid[2]);
    }
    return Status::ok();
  }
};

BackwardPlan::BackwardPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackwardPlan::BackwardPlan(BackwardPlan&&) noexcept = default;
BackwardPlan& BackwardPlan::operator=(BackwardPlan&&) noexcept = default;
BackwardPlan::~BackwardPlan() = default;

Result<BackwardPlan> BackwardPlan::create(Context& ctx, const AttentionDesc& desc, BackwardOptions options) {
  ContextState& s = ctx.state();
  if (options.determinism != Determinism::kDeterministic && options.determinism != Determinism::kFast) {
    return invalid("options.determinism = " + std::to_string(static_cast<std::uint32_t>(options.determinism)) +
                   " is not a Determinism value");
  }
  AttentionDesc d = desc;
  d.write_lse = true;  // the backward reads the forward's LSE; the flag only matters to the forward
  Result<FwdProblem> problem = resolve_problem(d, s.info);  // refuses an explicit coopmat the forward cannot take
  if (!problem) return problem.status();
  // The backward's own coopmat limits (head dims up to 128): an explicit request fails, kAuto
  // falls back to the scalar kernels (the name says _scalar).
  const std::string blocker = bwd_coopmat_blocker(*problem, s.info);
  if (Result<KernelPath> path = requested_path(d.path);
      path && path.value() == KernelPath::kCoopmat && !blocker.empty()) {
    return unsupported(std::string(d.path == KernelPath::kCoopmat ? "desc.path" : "VKATTN_PATH") +
                       " = coopmat: " + blocker);
  }
  const bool coopmat = problem->coopmat && blocker.empty();
  Result<CmBwdTiles> forced = cm_bwd_forced_tiles(*problem, s.info, coopmat);  // tuning overrides
  if (!forced) return forced.status();
  auto impl = std::make_unique<Impl>();
  impl->problem = std::move(problem).value();
  impl->options = options;
  impl->spec = choose_bwd_variant(impl->problem, s.info, coopmat, forced.value());
  VKATTN_TRY(check_bwd_limits(impl->problem, impl->spec, s.info));
  impl->name = bwd_variant_name(impl->problem, impl->spec, coopmat);

  Result<Kernel> pre = make_kernel(s, ShaderId::kAttnBwdPre, bwd_pre_spec(impl->spec), impl->name + ".pre",
                                   kPreBindingCount, sizeof(BwdPrePushConstants));
  if (!pre) return pre.status();
  Result<Kernel> dq = make_kernel(s, coopmat ? ShaderId::kAttnBwdDqCm : ShaderId::kAttnBwdDq, impl->spec,
                                  impl->name + ".dq", kBwdBindingCount, sizeof(BwdPushConstants));
  if (!dq) return dq.status();
  Result<Kernel> dkdv = make_kernel(s, coopmat ? ShaderId::kAttnBwdDkdvCm : ShaderId::kAttnBwdDkdv, impl->spec,
                                    impl->name + ".dkdv", kBwdBindingCount, sizeof(BwdPushConstants));
  if (!dkdv) return dkdv.status();
  const struct {
    BwdParam which;
    bool enabled;
    const char* suffix;
  } param_grads[] = {{BwdParam::kBias, desc.score_mod.bias.has_value(), ".dbias"},
                     {BwdParam::kTable, desc.score_mod.rel_pos_max_distance.has_value(), ".dtable"},
                     {BwdParam::kSinks, desc.score_mod.sinks, ".dsinks"}};
  for (const auto& g : param_grads) {
    if (!g.enabled) continue;
    BwdSpecConstants param_spec = impl->spec;  // dparam reads BLOCK_ROWS (its workgroup) and the features
    param_spec.param = static_cast<std::uint32_t>(g.which);
    param_spec.workgroup_size = param_spec.block_rows;
    param_spec.block_cols = param_spec.step = 0;
    Result<Kernel> k = make_kernel(s, ShaderId::kAttnBwdDparam, param_spec, impl->name + g.suffix, kBwdBindingCount,
                                   sizeof(BwdParamPushConstants));
    if (!k) return k.status();
    impl->param_kernels[static_cast<std::size_t>(g.which)] = std::move(k).value();
  }
  if (coopmat) {
    BwdSpecConstants wide = impl->spec;
    wide.wide_rows = 1;
    Result<Kernel> dq_wide = make_kernel(s, ShaderId::kAttnBwdDqCm, wide, impl->name + ".dq.wide_rows",
                                         kBwdBindingCount, sizeof(BwdPushConstants));
    if (!dq_wide) return dq_wide.status();
    Result<Kernel> dkdv_wide = make_kernel(s, ShaderId::kAttnBwdDkdvCm, wide, impl->name + ".dkdv.wide_rows",
                                           kBwdBindingCount, sizeof(BwdPushConstants));
    if (!dkdv_wide) return dkdv_wide.status();
    impl->dq_wide_kernel = std::move(dq_wide).value();
    impl->dkdv_wide_kernel = std::move(dkdv_wide).value();
  }
  impl->pre_kernel = std::move(pre).value();
  impl->dq_kernel = std::move(dq).value();
  impl->dkdv_kernel = std::move(dkdv).value();

  const std::vector<std::byte> params = attn_params_bytes(impl->problem);
  VKATTN_TRY(create_host_written_buffer(s, params, impl->params));
  AttnParamsHeader header;
  std::memcpy(&header, params.data(), sizeof header);
  const VkDeviceSize work_bytes = std::max<VkDeviceSize>(2ull * header.work_rows * sizeof(float), 16);
  VKATTN_TRY(
      allocate(s, work_bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, impl->work));
  s.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->params.buffer), impl->name + ".params");
  s.name_object(VK_OBJECT_TYPE_BUFFER, reinterpret_cast<std::uint64_t>(impl->work.buffer), impl->name + ".work");
  impl->ctx = &ctx;
  s.live_children.fetch_add(1);
  return BackwardPlan(std::move(impl));
}

const std::string& BackwardPlan::variant_name() const { return impl_->name; }
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
  for (Kernel* k :
       {&impl_->pre_kernel, &impl_->dq_kernel, &impl_->dkdv_kernel, &impl_->dq_wide_kernel, &impl_->dkdv_wide_kernel,
        &impl_->param_kernels[0], &impl_->param_kernels[1], &impl_->param_kernels[2], &impl_->param_kernels[3]}) {
    if (k->binder) k->binder->release_sets();
  }
}

Status BackwardPlan::run(const BackwardTensors& t) {
  Result<BoundBackward> b = impl_->bind(t);
  if (!b) return b.status();
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_bound(cmd, b.value()); });
}

}  // namespace vkattn
