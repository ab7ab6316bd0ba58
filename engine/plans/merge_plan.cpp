#include <array>
#include <memory>
#include <string>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "kernels/attn_merge_interface.hpp"
#include "kernels/kernel.hpp"
#include "planning/merge_planning.hpp"
#include "planning/tensor_checks.hpp"
#include "plans/run_isolated.hpp"
#include "vkattn/context.hpp"
#include "vkattn/merge.hpp"

namespace vkattn {
namespace {

struct BoundMerge {
  std::array<VkDescriptorBufferInfo, kMergeBindingCount> descriptors{};
  MergePushConstants push;
};

// Part 0's view moved `parts - 1` part strides on (the last part), for its bounds check.
TensorView last_part(TensorView v, std::int64_t stride, std::int64_t parts) {
  v.offset += static_cast<VkDeviceSize>((parts - 1) * stride) * dtype_size(v.dtype);
  return v;
}

}  // namespace

struct MergePlan::Impl {
  Impl(Context& c, MergeDesc d) : ctx(&c), desc(d) { context_state(c).live_children.fetch_add(1); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { context_state(*ctx).live_children.fetch_sub(1); }

  Context* ctx;
  MergeDesc desc;
  MergeSpecConstants spec;
  std::string name;
  WorkgroupCount grid{};
  Kernel kernel;

  // The parts of one tensor: part 0 and the last part checked as views, one descriptor spanning
  // both (every part in between lies within it).
  Result<BoundView> parts(const char* what, const char* stride_name, const TensorView& first, std::int64_t stride,
                          const ViewRequirement& req) const {
    const Device& device = *context_state(*ctx).device;
    Result<BoundView> b0 = check_view(device, first, req);
    if (!b0) return b0;
    if (desc.num_parts == 1) return b0;
    if (stride <= 0) {
      return invalid(std::string("t.") + stride_name + " = " + num(stride) + " (must be > 0 with desc.num_parts = " +
                     num(desc.num_parts) + ")");
    }
    ViewRequirement last_req = req;
    const std::string last_name = std::string(what) + " (part " + num(desc.num_parts - 1) + ")";
    last_req.name = last_name.c_str();
    Result<BoundView> bl = check_view(device, last_part(first, stride, desc.num_parts), last_req);
    if (!bl) return bl;
    BoundView b = *b0;
    if (bl->end_byte - b.descriptor.offset > b.descriptor.range) {
      return invalid(std::string(what) + ": parts 0.." + num(desc.num_parts - 1) + " span " +
                     num(static_cast<std::int64_t>(bl->end_byte - b.descriptor.offset)) +
                     " bytes, more than one binding can reach (maxStorageBufferRange = " +
                     num(static_cast<std::int64_t>(device.info.max_storage_buffer_range)) + ")");
    }
    if (static_cast<std::uint64_t>(stride) > UINT32_MAX) {
      return invalid(std::string("t.") + stride_name + " = " + num(stride) + " does not fit 32 bits");
    }
    b.end_byte = bl->end_byte;
    return b;
  }

  Result<BoundMerge> bind(const MergeTensors& t) const {
    const Device& device = *context_state(*ctx).device;
    const std::array<std::int64_t, 4> o_shape{desc.batch, desc.heads, desc.seq, desc.head_dim_v};
    const std::array<std::int64_t, 3> lse_shape{desc.batch, desc.heads, desc.seq};
    static constexpr std::array<const char*, 4> kONames{"B", "H", "S", "Dv"};
    static constexpr std::array<const char*, 3> kLseNames{"B", "H", "S"};
    const ViewRequirement o_parts_req{"o_parts", o_shape, kONames, desc.part_dtype, true, false};
    const ViewRequirement lse_parts_req{"lse_parts", lse_shape, kLseNames, DType::kF32, false, false};
    Result<BoundView> op = parts("o_parts", "o_part_stride", t.o_parts, t.o_part_stride, o_parts_req);
    if (!op) return op.status();
    Result<BoundView> lp = parts("lse_parts", "lse_part_stride", t.lse_parts, t.lse_part_stride, lse_parts_req);
    if (!lp) return lp.status();
    Result<BoundView> o = check_view(device, t.o, {"o", o_shape, kONames, desc.dtype, true, true});
    if (!o) return o.status();
    VKATTN_TRY(check_no_overlap(*o, "o", t.o, *op, "o_parts", t.o_parts));
    VKATTN_TRY(check_no_overlap(*o, "o", t.o, *lp, "lse_parts", t.lse_parts));

    BoundMerge b;
    b.descriptors[kMergeOParts] = op->descriptor;
    b.descriptors[kMergeLseParts] = lp->descriptor;
    b.descriptors[kMergeO] = o->descriptor;
    b.descriptors[kMergeLse] = o->descriptor;  // never touched without write_lse
    MergePushConstants& p = b.push;
    if (desc.write_lse) {
      if (!t.lse) return invalid("lse is missing but the plan writes LSE (desc.write_lse = true)");
      Result<BoundView> l = check_view(device, *t.lse, {"lse", lse_shape, kLseNames, DType::kF32, false, true});
      if (!l) return l.status();
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *o, "o", t.o));
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *op, "o_parts", t.o_parts));
      VKATTN_TRY(check_no_overlap(*l, "lse", *t.lse, *lp, "lse_parts", t.lse_parts));
      b.descriptors[kMergeLse] = l->descriptor;
      p.lse_offset = l->element_offset;
      p.lse_stride_b = l->strides[0], p.lse_stride_h = l->strides[1], p.lse_stride_s = l->strides[2];
    } else if (t.lse) {
      return invalid("lse is given but the plan does not write LSE (desc.write_lse = false)");
    }
    p.o_parts_offset = op->element_offset;
    p.o_parts_stride_b = op->strides[0], p.o_parts_stride_h = op->strides[1], p.o_parts_stride_s = op->strides[2];
    p.o_part_stride = static_cast<std::uint32_t>(t.o_part_stride);
    p.lse_parts_offset = lp->element_offset;
    p.lse_parts_stride_b = lp->strides[0], p.lse_parts_stride_h = lp->strides[1];
    p.lse_parts_stride_s = lp->strides[2];
    p.lse_part_stride = static_cast<std::uint32_t>(t.lse_part_stride);
    p.o_offset = o->element_offset;
    p.o_stride_b = o->strides[0], p.o_stride_h = o->strides[1], p.o_stride_s = o->strides[2];
    p.num_parts = static_cast<std::uint32_t>(desc.num_parts);
    p.heads = static_cast<std::uint32_t>(desc.heads);
    p.seq = static_cast<std::uint32_t>(desc.seq);
    p.rows = static_cast<std::uint32_t>(desc.batch * desc.heads * desc.seq);
    return b;
  }

  Status record_bound(VkCommandBuffer cmd, const BoundMerge& b) {
    VKATTN_TRY(kernel.reserve(b.descriptors));
    return kernel.record(cmd, b.descriptors, b.push, grid);
  }
};

MergePlan::MergePlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MergePlan::MergePlan(MergePlan&&) noexcept = default;
MergePlan& MergePlan::operator=(MergePlan&&) noexcept = default;
MergePlan::~MergePlan() = default;

Result<MergePlan> MergePlan::create(Context& ctx, const MergeDesc& desc) {
  ContextState& s = context_state(ctx);
  Result<MergeSpecConstants> spec = plan_merge(desc, s.device->info.max_workgroup_invocations);
  if (!spec) return spec.status();
  Result<WorkgroupCount> grid = merge_grid(desc.batch * desc.heads * desc.seq, s.device->info);
  if (!grid) return grid.status();
  auto impl = std::make_unique<Impl>(ctx, desc);
  impl->spec = *spec;
  impl->name = merge_variant_name(*spec, desc.num_parts);
  impl->grid = *grid;
  const auto map = merge_spec_map();
  const KernelBuild build{ShaderId::kAttnMerge,       spec_words(impl->spec),    map, impl->name, kMergeBindingCount,
                          sizeof(MergePushConstants)};
  Result<Kernel> kernel = Kernel::create(*s.device, *s.pipelines, build);
  if (!kernel) return kernel.status();
  impl->kernel = std::move(kernel).value();
  return MergePlan(std::move(impl));
}

const std::string& MergePlan::variant_name() const { return impl_->name; }
const MergeDesc& MergePlan::desc() const { return impl_->desc; }
Status MergePlan::validate(const MergeTensors& t) const { return impl_->bind(t).status(); }

Status MergePlan::record(VkCommandBuffer cmd, const MergeTensors& t) {
  if (cmd == VK_NULL_HANDLE) return invalid("cmd is VK_NULL_HANDLE");
  Result<BoundMerge> b = impl_->bind(t);
  if (!b) return b.status();
  return impl_->record_bound(cmd, *b);
}

Status MergePlan::run(const MergeTensors& t) {
  Result<BoundMerge> b = impl_->bind(t);
  if (!b) return b.status();
  return run_isolated(*impl_->ctx, [&](VkCommandBuffer cmd) { return impl_->record_bound(cmd, *b); });
}

void MergePlan::release_descriptor_sets() { impl_->kernel.release_sets(); }

}  // namespace vkattn
