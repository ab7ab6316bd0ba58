#include "device_report.hpp"

#include <string>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {
namespace {

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU";
    default:
      return "other";
  }
}

AttentionDesc desc_of(const Shape& s, bool causal, KernelPath path) {
  AttentionDesc d;
  d.dtype = DType::kF16;
  d.batch = s.b;
  d.q_heads = s.h;
  d.seq_q = d.seq_k = s.s;
  d.head_dim = s.d;
  d.head_dim_v = s.dv;
  if (causal) d.mask = Mask::causal_mask();
  d.path = path;
  return d;
}

}  // namespace

int print_info(Context& ctx, const std::vector<Shape>& shapes, KernelPath path, std::FILE* out) {
  const DeviceInfo& i = ctx.info();
  std::fprintf(out, "device        %s (%s), Vulkan %u.%u.%u, vendor 0x%04x device 0x%04x\n", i.name.c_str(),
               type_name(i.type), VK_API_VERSION_MAJOR(i.api_version), VK_API_VERSION_MINOR(i.api_version),
               VK_API_VERSION_PATCH(i.api_version), i.vendor_id, i.device_id);
  std::fprintf(
      out, "limits        shared memory %u bytes, %u invocations per workgroup, subgroup %u lanes%s\n",
      i.max_shared_memory, i.max_workgroup_invocations, i.subgroup_size,
      i.max_loop_iterations != 0
          ? (", " + std::to_string(i.max_loop_iterations) + " loop iterations per invocation (llvmpipe)").c_str()
          : "");
  std::fprintf(out, "descriptors   %s\n", i.push_descriptors ? "push descriptors" : "pooled descriptor sets");
  for (const std::string& e : ctx.options().from_environment) std::fprintf(out, "environment   %s\n", e.c_str());
  // The paths: scalar runs everywhere; coopmat's availability is what planning a plain fp16
  // problem with an explicit request says.
  std::fprintf(out, "path scalar   available (fp32 FMA kernels, every Vulkan 1.3 device)\n");
  Result<std::string> cm = forward_variant_name(ctx, desc_of(Shape{1, 1, 64, 64}, false, KernelPath::kCoopmat));
  std::fprintf(out, "path coopmat  %s\n",
               cm ? "available (VK_NV_cooperative_matrix: fp16 operands, fp32 accumulation)"
                  : ("not available: " + cm.status().message()).c_str());
  Result<std::string> khr = forward_variant_name(ctx, desc_of(Shape{1, 1, 64, 64}, false, KernelPath::kCoopmatKhr));
  std::fprintf(out, "path coopmat_khr  %s\n",
               khr ? "available (VK_KHR_cooperative_matrix: the coopmat kernels with operands typed by use)"
                   : ("not available: " + khr.status().message()).c_str());
  Result<std::string> cm2 = forward_variant_name(ctx, desc_of(Shape{1, 1, 64, 64}, false, KernelPath::kCoopmat2));
  std::fprintf(out, "path coopmat2  %s\n",
               cm2 ? "available (VK_NV_cooperative_matrix2: the forward on workgroup-scope matrices; backward on coopmat_khr)"
                   : ("not available: " + cm2.status().message()).c_str());
  for (const DeviceInfo::Coopmat2Shape& c : i.coopmat2_shapes) {
    if (c.invocations == 0) continue;
    std::fprintf(out, "  coopmat2 shape: %u invocations, granularity M %u N %u K %u (largest dimension %u)\n", c.invocations,
                 c.m, c.n, c.k, i.coopmat2_max_dimension);
  }
  const ToolchainInfo tc = toolchain_info();
  const auto said = [](bool yes, const char* reason) { return yes ? std::string("yes") : std::string("no: ") + reason; };
  std::fprintf(out, "toolchain     glslang %s: GL_NV_cooperative_matrix %s; GL_KHR_cooperative_matrix %s; "
               "GL_NV_cooperative_matrix2 %s\n",
               tc.glslang_version, said(tc.nv_cooperative_matrix, tc.nv_cooperative_matrix_reason).c_str(),
               said(tc.khr_cooperative_matrix, tc.khr_cooperative_matrix_reason).c_str(),
               said(tc.nv_cooperative_matrix2, tc.nv_cooperative_matrix2_reason).c_str());
  int rc = 0;
  for (const Shape& s : shapes) {
    for (bool causal : {false, true}) {
      const AttentionDesc d = desc_of(s, causal, path);
      std::string head_dims = std::to_string(s.d);  // "192x128" where V's differs
      if (s.dv != 0) head_dims += 'x', head_dims += std::to_string(s.dv);
      std::fprintf(out, "shape %lldx%lldx%lldx%s f16 %s\n", static_cast<long long>(s.b), static_cast<long long>(s.h),
                   static_cast<long long>(s.s), head_dims.c_str(), causal ? "causal" : "no mask");
      Result<ForwardPlan> f = ForwardPlan::create(ctx, d);
      if (f) {
        std::fprintf(out, "  forward     %s\n              (%s)\n", f->variant_name().c_str(),
                     f->path_reason().c_str());
      } else {
        std::fprintf(out, "  forward     refused: %s\n", f.status().message().c_str());
        rc = 1;
      }
      Result<BackwardPlan> b = BackwardPlan::create(ctx, d);
      if (b) {
        std::fprintf(out, "  backward    %s\n              (%s)\n", b->variant_name().c_str(),
                     b->path_reason().c_str());
      } else {
        std::fprintf(out, "  backward    refused: %s\n", b.status().message().c_str());
        rc = 1;
      }
    }
  }
  return rc;
}

}  // namespace vkattn::bench
