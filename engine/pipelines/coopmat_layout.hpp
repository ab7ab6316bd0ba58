// The accumulator layout the coopmat kernels are written for, checked on the device.
//
// VK_NV_cooperative_matrix leaves which lane holds which element of a fragment to the driver.
// attn_fwd_cm.comp and attn_bwd_*_cm.comp index a 16 x 16 fp32 accumulator by the order NVIDIA's
// driver uses (read back on an H100): lane 4g + t (g = 0..7, t = 0..3) holds 8 elements, element e at
//   row    g + 8 * ((e >> 2) & 1)
//   column 2t + (e & 1) + 8 * ((e >> 1) & 1)
// (shaders/attn_cm_layout.glsl says the same in GLSL). probe_coopmat_layout() runs
// shaders/coopmat_layout_probe.comp once per extension and compares; a device whose layout
// differs does not get that path. The KHR build also needs the order in which a lane's fp16 A
// operand holds its accumulator's elements (attn_cm_ops.glsl's acc_to_a): a_from_acc_order().
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

// From the probe's accumulator cells (as above) and A-operand cells and counts (the same for an
// fp16 16 x 16 A fragment): the order `order` packs 3 bits per A element e, the index of the
// accumulator element of the same lane that holds the same matrix element; one order for every
// lane. Returns "" and sets `order`, or why there is none.
std::string a_from_acc_order(std::span<const float> acc_cells, std::span<const float> a_cells,
                             std::span<const float> a_counts, std::uint32_t& order);

// What the probe found: `mismatch` is "" where the path's layouts are usable, else why not;
// a_from_acc is a_from_acc_order's result (KHR only).
struct CoopmatLayout {
  std::string mismatch;
  std::uint32_t a_from_acc = 0;
};

// Runs the probe of one extension (khr: VK_KHR_cooperative_matrix, else VK_NV_cooperative_matrix)
// on the device's queue (one 32-invocation dispatch) and compares. Needs the features of
// DeviceInfo::coopmat (or coopmat_khr); returns a Vulkan failure as an error status.
Result<CoopmatLayout> probe_coopmat_layout(const Device& device, QueueSubmitter& queue, bool khr);

}  // namespace vkattn
