// The accumulator layout the coopmat kernels are written for, checked on the device.
//
// VK_NV_cooperative_matrix leaves which lane holds which element of a fragment to the driver.
// attn_fwd_cm.comp and attn_bwd_*_cm.comp index a 16 x 16 fp32 accumulator by the order NVIDIA's
// driver uses (read back on an H100): lane 4g + t (g = 0..7, t = 0..3) holds 8 elements, element e at
//   row    g + 8 * ((e >> 2) & 1)
//   column 2t + (e & 1) + 8 * ((e >> 1) & 1)
// (shaders/attn_cm_layout.glsl says the same in GLSL). coopmat_layout_matches() runs
// shaders/coopmat_layout_probe.comp once and compares; a device whose layout differs runs the
// scalar kernels instead.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "vkattn/status.hpp"

namespace vkattn {

struct Device;
class QueueSubmitter;

// The (row, column) of element e of lane `lane` in the layout above.
constexpr std::uint32_t mma_acc_row(std::uint32_t lane, std::uint32_t e) { return lane / 4 + 8 * ((e >> 2) & 1); }
constexpr std::uint32_t mma_acc_col(std::uint32_t lane, std::uint32_t e) {
  return 2 * (lane % 4) + (e & 1) + 8 * ((e >> 1) & 1);
}

// What the probe wrote: cells[8 l + e] = 16 row + column of lane l's element e, counts[l] = the
// lane's element count. Empty when they match the layout above, else the first difference.
std::string compare_with_mma_layout(std::span<const float> cells, std::span<const float> counts);

// Runs the probe on the device's queue (one 32-invocation dispatch) and compares. Needs the
// features of DeviceInfo::coopmat; returns a Vulkan failure as an error status.
Result<std::string> probe_coopmat_layout(const Device& device, QueueSubmitter& queue);

}  // namespace vkattn
