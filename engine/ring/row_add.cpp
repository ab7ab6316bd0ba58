#include "ring/row_add.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "kernels/kernel.hpp"
#include "kernels/row_add_interface.hpp"
#include "planning/tensor_checks.hpp"

namespace vkattn {
namespace {

constexpr std::int64_t kRowAddWorkgroup = 256;  // row_add.comp's local_size_x

}  // namespace

struct RowAdd::Impl {
  Context* ctx = nullptr;
  RowAddSpecConstants spec;
  Kernel kernel;
};

RowAdd::RowAdd(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RowAdd::RowAdd(RowAdd&&) noexcept = default;
RowAdd& RowAdd::operator=(RowAdd&&) noexcept = default;
RowAdd::~RowAdd() = default;

Result<RowAdd> RowAdd::create(Context& ctx, DType src, DType dst, std::int64_t width, bool accumulate) {
  for (const auto& [field, dt] : {std::pair{"src dtype", src}, std::pair{"dst dtype", dst}}) {
    if (dt != DType::kF32 && dt != DType::kF16 && dt != DType::kBF16) {
      return invalid(std::string("row add: ") + field + " = " + dtype_text(dt) + " (must be f32, f16 or bf16)");
    }
  }
  if (width < 2 || width > 512 || width % 2 != 0) {
    return invalid("row add: width = " + num(width) + " (must be even, in [2, 512])");
  }
  ContextState& s = context_state(ctx);
  auto impl = std::make_unique<Impl>();
  impl->ctx = &ctx;
  impl->spec.head_dim = static_cast<std::uint32_t>(width);
  impl->spec.src_dtype = static_cast<std::uint32_t>(src);
  impl->spec.dst_dtype = static_cast<std::uint32_t>(dst);
  impl->spec.accumulate = accumulate ? 1u : 0u;
  const std::string name = std::string("row_add_w") + num(width) + "_" + to_string(dst) + (accumulate ? "_plus_" : "_from_") +
                           to_string(src);
  const auto map = row_add_spec_map();
  const KernelBuild build{ShaderId::kRowAdd, spec_words(impl->spec), map, name, kRowAddBindingCount,
                          sizeof(RowAddPushConstants)};
  Result<Kernel> kernel = Kernel::create(*s.device, *s.pipelines, build);
  if (!kernel) return kernel.status();
  impl->kernel = std::move(kernel).value();
  return RowAdd(std::move(impl));
}

namespace {

struct BoundRowAdd {
  std::array<VkDescriptorBufferInfo, kRowAddBindingCount> descriptors{};
  RowAddPushConstants push;
  std::uint32_t groups = 0;
};

Result<BoundRowAdd> bind_row_add(const Device& device, const RowAddSpecConstants& spec, const TensorView& src,
                                 const TensorView& dst, const char* src_name, const char* dst_name) {
  if (src.rank != 4) return invalid(std::string(src_name) + ".rank = " + num(src.rank) + " (row add: [B, H, rows, width])");
  const std::array<std::int64_t, 4> shape{src.shape[0], src.shape[1], src.shape[2], src.shape[3]};
  static constexpr std::array<const char*, 4> kNames{"B", "H", "rows", "width"};
  if (shape[3] != spec.head_dim) {
    return invalid(std::string(src_name) + ".shape[3] = " + num(shape[3]) + ", expected " + num(spec.head_dim));
  }
  Result<BoundView> from = check_view(device, src, {src_name, shape, kNames, static_cast<DType>(spec.src_dtype)});
  if (!from) return from.status();
  Result<BoundView> to = check_view(device, dst, {dst_name, shape, kNames, static_cast<DType>(spec.dst_dtype), true, true});
  if (!to) return to.status();
  BoundRowAdd b;
  RowAddPushConstants& p = b.push;
  p.src_offset = from->element_offset;
  p.src_stride_b = from->strides[0], p.src_stride_h = from->strides[1], p.src_stride_s = from->strides[2];
  p.dst_offset = to->element_offset;
  p.dst_stride_b = to->strides[0], p.dst_stride_h = to->strides[1], p.dst_stride_s = to->strides[2];
  p.heads = static_cast<std::uint32_t>(shape[1]);
  p.rows = static_cast<std::uint32_t>(shape[2]);
  // Element indices fit 32 bits (check_view bounds them by the binding); the pair count and the
  // grid-stride loop's last step must too.
  const std::int64_t pairs = shape[0] * shape[1] * shape[2] * shape[3] / 2;
  const std::int64_t groups = std::min<std::int64_t>((pairs + kRowAddWorkgroup - 1) / kRowAddWorkgroup,
                                                     std::min<std::int64_t>(device.info.max_workgroup_count[0], 65535));
  if (pairs + groups * kRowAddWorkgroup >= (std::int64_t{1} << 32)) {
    return invalid(std::string(dst_name) + ": " + num(pairs) + " element pairs (row add: at most about 2^32)");
  }
  p.pairs = static_cast<std::uint32_t>(pairs);
  b.groups = static_cast<std::uint32_t>(groups);
  b.descriptors[kRowAddSrc] = from->descriptor;
  b.descriptors[kRowAddDst] = to->descriptor;
  return b;
}

}  // namespace

Status RowAdd::validate(const TensorView& src, const TensorView& dst, const char* src_name, const char* dst_name) const {
  return bind_row_add(*context_state(*impl_->ctx).device, impl_->spec, src, dst, src_name, dst_name).status();
}

Status RowAdd::reserve(const TensorView& src, const TensorView& dst) {
  Result<BoundRowAdd> b = bind_row_add(*context_state(*impl_->ctx).device, impl_->spec, src, dst, "src", "dst");
  if (!b) return b.status();
  return impl_->kernel.reserve(b->descriptors);
}

Status RowAdd::record(VkCommandBuffer cmd, const TensorView& src, const TensorView& dst) {
  Result<BoundRowAdd> b = bind_row_add(*context_state(*impl_->ctx).device, impl_->spec, src, dst, "src", "dst");
  if (!b) return b.status();
  if (b->push.pairs == 0) return Status::ok();
  return impl_->kernel.record(cmd, b->descriptors, b->push, WorkgroupCount{b->groups, 1, 1});
}

void RowAdd::release_descriptor_sets() { impl_->kernel.release_sets(); }

}  // namespace vkattn
