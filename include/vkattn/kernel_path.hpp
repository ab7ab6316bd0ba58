// vkattn/kernel_path.hpp — which family of kernels a plan runs.
#pragma once

#include <cstdint>

namespace vkattn {

// Kernel family. kAuto picks the fastest path the device supports.
enum class KernelPath : std::uint32_t {
  kAuto = 0,
  kScalar = 1,   // portable fp32 FMA path: lavapipe and every Vulkan 1.3 device
  kCoopmat = 2,  // matrix units through VK_NV_cooperative_matrix (fp16 operands, fp32 accumulation)
};
// kAuto picks kCoopmat where the device and the problem allow it (DeviceInfo::coopmat, fp16,
// head dims multiples of 16, tiles fitting maxComputeSharedMemorySize, 128-invocation
// workgroups) and kScalar otherwise; the variant name ends in _coopmat or _scalar.
// ContextOptions::overrides.path (or env VKATTN_PATH=scalar|coopmat) overrides kAuto (coopmat then fails where it
// cannot run, as an explicit kCoopmat does, with kUnsupported naming the reason).
const char* to_string(KernelPath p);

}  // namespace vkattn
