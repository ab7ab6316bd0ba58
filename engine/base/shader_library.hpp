// The SPIR-V of every entry point, embedded at build time (nothing is read from disk).
#pragma once

#include <cstdint>
#include <span>

namespace vkattn {

enum class ShaderId : std::uint32_t {
  kAttnFwd = 0,             // shaders/attn_fwd.comp
  kAttnBwdPre = 1,          // shaders/attn_bwd_pre.comp
  kAttnBwdDq = 2,           // shaders/attn_bwd_dq.comp
  kAttnBwdDkdv = 3,         // shaders/attn_bwd_dkdv.comp
  kAttnBwdDparam = 4,       // shaders/attn_bwd_dparam.comp
  kAttnFwdCm = 5,           // shaders/attn_fwd_cm.comp (VK_NV_cooperative_matrix)
  kAttnBwdDqCm = 6,         // shaders/attn_bwd_dq_cm.comp (VK_NV_cooperative_matrix)
  kAttnBwdDkdvCm = 7,       // shaders/attn_bwd_dkdv_cm.comp (VK_NV_cooperative_matrix)
  kCoopmatLayoutProbe = 8,  // shaders/coopmat_layout_probe.comp (engine/pipelines/coopmat_layout.cpp)
  kAttnMerge = 9,           // shaders/attn_merge.comp
  kAttnKvAppend = 10,       // shaders/attn_kv_append.comp
  kQKTransform = 11,        // shaders/qk_transform.comp
  // The coopmat kernels and probe again, built with GL_KHR_cooperative_matrix (CM_KHR=1).
  kAttnFwdCmKhr = 12,
  kAttnBwdDqCmKhr = 13,
  kAttnBwdDkdvCmKhr = 14,
  kCoopmatLayoutProbeKhr = 15,
  kAttnFwdCm2 = 16,      // shaders/attn_fwd_cm2.comp (VK_NV_cooperative_matrix2)
  kAttnBwdDqCm2 = 17,    // shaders/attn_bwd_dq_cm2.comp (VK_NV_cooperative_matrix2)
  kAttnBwdDkdvCm2 = 18,  // shaders/attn_bwd_dkdv_cm2.comp (VK_NV_cooperative_matrix2)
  kRowAdd = 19,          // shaders/row_add.comp (ring attention's gradient sums)
};

const char* to_string(ShaderId id);
// The module's SPIR-V; empty for a module of a path the toolchain could not compile
// (vkattn::toolchain_info()).
std::span<const std::uint32_t> shader_spirv(ShaderId id);

// Every embedded module with the kernel path it belongs to ("scalar" for the portable kernels
// and those every path shares, "nv_coopmat", "khr_coopmat", "nv_coopmat2"), from shaders/CMakeLists.txt's list.
struct ShaderModule {
  const char* path;
  const char* name;
  std::span<const std::uint32_t> spirv;
};
std::span<const ShaderModule> shader_modules();

}  // namespace vkattn
