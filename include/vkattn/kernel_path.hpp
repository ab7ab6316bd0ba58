// vkattn/kernel_path.hpp — which family of kernels a plan runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vkattn {

// Kernel family. kAuto picks the fastest path the device supports.
enum class KernelPath : std::uint32_t {
  kAuto = 0,
  kScalar = 1,   // portable fp32 FMA path: lavapipe and every Vulkan 1.3 device
  kCoopmat = 2,  // matrix units through VK_NV_cooperative_matrix (fp16 operands, fp32 accumulation)
  // The same kernels built with VK_KHR_cooperative_matrix (operands typed by use; shaders/
  // attn_cm_ops.glsl). Runs where the toolchain compiled it and the device has the extension with
  // fp16 16x16x16 at subgroup scope (DeviceInfo::coopmat_khr); kAuto takes it there (measured
  // 1.2-1.5x kCoopmat on the H200). Variant names end in _coopmat_khr.
  kCoopmatKhr = 3,
  // The forward and backward on VK_NV_cooperative_matrix2 (workgroup-scope matrices, tensor-layout
  // loads, row reductions, per-element operations: shaders/attn_fwd_cm2.comp, attn_bwd_dq_cm2.comp,
  // attn_bwd_dkdv_cm2.comp), where the toolchain compiled them and the device has the extension with
  // those features (DeviceInfo::coopmat2). fp16 storage, without split-K decode, GQA packing or a
  // paged cache; calls whose views are off 16 bytes run the coopmat kernels. kAuto takes it only
  // with PlanOverrides::cm2 = 1 (VKATTN_CM2) until it is measured against kCoopmatKhr. Variant
  // names end in _coopmat2.
  kCoopmat2 = 4,
};
// kAuto picks kCoopmatKhr, else kCoopmat, where the device and the problem allow it (fp16 or bf16, any
// head dim (those of 8 mod 16 are padded to 16 inside the kernels), tiles fitting
// maxComputeSharedMemorySize, 128-invocation workgroups) and
// kScalar otherwise; the variant name ends in _coopmat_khr, _coopmat or _scalar.
// ContextOptions::overrides.path (or env VKATTN_PATH=scalar|coopmat|coopmat_khr|coopmat2) overrides kAuto (coopmat then fails where it
// cannot run, as an explicit kCoopmat does, with kUnsupported naming the reason).
const char* to_string(KernelPath p);
// "auto", "scalar", "coopmat", "coopmat_khr" or "coopmat2" (to_string's names); nullopt for anything else.
std::optional<KernelPath> kernel_path_from_string(std::string_view name);
// Whether `p` is one of the enum's values (a value cast from an integer may not be).
bool is_kernel_path(KernelPath p);
// "auto, scalar, coopmat, coopmat_khr or coopmat2": for messages that list the names.
inline constexpr const char* kKernelPathNames = "auto, scalar, coopmat, coopmat_khr or coopmat2";

// The shader toolchain this library was built with (cmake/VkattnToolchain.cmake) and the
// tensor-core extensions it could compile and validate. A path whose extension it could not is
// "not compiled in" (its kernels are absent; planning says so with the reason).
struct ToolchainInfo {
  const char* glslang_version = "";
  bool nv_cooperative_matrix = false;   // GL_NV_cooperative_matrix: KernelPath::kCoopmat's kernels
  bool khr_cooperative_matrix = false;  // GL_KHR_cooperative_matrix: KernelPath::kCoopmatKhr's kernels
  bool nv_cooperative_matrix2 = false;  // GL_NV_cooperative_matrix2 (with KHR): KernelPath::kCoopmat2's kernels
  // Why not, where a flag is false ("" where it is true).
  const char* nv_cooperative_matrix_reason = "";
  const char* khr_cooperative_matrix_reason = "";
  const char* nv_cooperative_matrix2_reason = "";
};
ToolchainInfo toolchain_info();

}  // namespace vkattn
