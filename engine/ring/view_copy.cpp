#include "ring/view_copy.hpp"

#include <cstring>
#include <string>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"

namespace vkattn {
namespace {

// The (b, h, s) rows of D elements between the view and a dense staging buffer, as copy regions,
// rows adjacent on both sides merged into one region.
std::vector<VkBufferCopy> row_regions(const TensorView& v, std::int64_t s0, std::int64_t rows, bool to_view) {
  const auto es = static_cast<VkDeviceSize>(dtype_size(v.dtype));
  const std::int64_t B = v.shape[0], H = v.shape[1], D = v.shape[3];
  std::vector<VkBufferCopy> regions;
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      for (std::int64_t s = 0; s < rows; ++s) {
        const VkDeviceSize at_view =
            v.offset + static_cast<VkDeviceSize>(b * v.strides[0] + h * v.strides[1] + (s0 + s) * v.strides[2]) * es;
        const VkDeviceSize at_dense = static_cast<VkDeviceSize>(((b * H + h) * rows + s) * D) * es;
        const VkDeviceSize bytes = static_cast<VkDeviceSize>(D) * es;
        const VkBufferCopy r = to_view ? VkBufferCopy{at_dense, at_view, bytes} : VkBufferCopy{at_view, at_dense, bytes};
        // Rows adjacent on both sides extend the previous region: a dense view is one region, not
        // B H rows of them (drivers walk regions on the CPU; with one per row, the ring's first
        // step spent 1.2 s copying 16 heads x 16384 rows on the H100).
        if (!regions.empty() && regions.back().srcOffset + regions.back().size == r.srcOffset &&
            regions.back().dstOffset + regions.back().size == r.dstOffset) {
          regions.back().size += r.size;
        } else {
          regions.push_back(r);
        }
      }
    }
  }
  return regions;
}

Status copy(Context& ctx, VkBuffer src, VkBuffer dst, const std::vector<VkBufferCopy>& regions, bool into_host) {
  return ctx.submit_and_wait([&](VkCommandBuffer cmd) {
    VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0,
                         nullptr, 0, nullptr);
    vkCmdCopyBuffer(cmd, src, dst, static_cast<std::uint32_t>(regions.size()), regions.data());
    const VkAccessFlags later = into_host ? VkAccessFlags{VK_ACCESS_HOST_READ_BIT}
                                          : VkAccessFlags{VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT, later};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         into_host ? VK_PIPELINE_STAGE_HOST_BIT : VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &after, 0,
                         nullptr, 0, nullptr);
  });
}

// The host side of a copy holds exactly the rows' bytes (the ring sizes it: an internal check).
Status check_dense_size(const char* fn, std::size_t given, std::size_t bytes) {
  if (given == bytes) return Status::ok();
  return Status(ErrorCode::kInvalidArgument, std::string("ring (internal): ") + fn + ": " + std::to_string(given) +
                                                 " bytes for " + std::to_string(bytes) + " bytes of rows");
}

}  // namespace

HostStaging::HostStaging() = default;
HostStaging::~HostStaging() = default;  // freeing the memory unmaps it

VkBuffer HostStaging::buffer() const { return alloc_ ? alloc_->buffer : VK_NULL_HANDLE; }

Status HostStaging::reserve(Context& ctx, VkDeviceSize bytes) {
  if (bytes <= capacity_) return Status::ok();
  alloc_.reset();
  mapped_ = nullptr;
  capacity_ = 0;
  const Device& d = *context_state(ctx).device;
  auto fresh = std::make_unique<BufferAlloc>();
  VKATTN_TRY(allocate(d, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                      VK_MEMORY_PROPERTY_HOST_CACHED_BIT, *fresh));  // cached: the host reads it back
  void* mapped = nullptr;
  VKATTN_VK(vkMapMemory(d.device, fresh->memory, 0, bytes, 0, &mapped), "vkMapMemory");
  alloc_ = std::move(fresh);
  mapped_ = static_cast<std::byte*>(mapped);
  capacity_ = bytes;
  return Status::ok();
}

std::size_t dense_rows_bytes(const TensorView& view, std::int64_t rows) {
  return static_cast<std::size_t>(view.shape[0] * view.shape[1] * rows * view.shape[3]) * dtype_size(view.dtype);
}

Status gather_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, HostStaging& stage,
                   std::span<std::byte> out) {
  const std::size_t bytes = dense_rows_bytes(view, rows);
  VKATTN_TRY(check_dense_size("gather_rows", out.size(), bytes));
  if (bytes == 0) return Status::ok();
  VKATTN_TRY(stage.reserve(ctx, bytes));
  VKATTN_TRY(copy(ctx, view.buffer, stage.buffer(), row_regions(view, s0, rows, false), true));
  std::memcpy(out.data(), stage.mapped(), bytes);
  return Status::ok();
}

Status copy_rows_dense(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, VkBuffer dense) {
  if (view.shape[0] * view.shape[1] * rows * view.shape[3] == 0) return Status::ok();
  return copy(ctx, view.buffer, dense, row_regions(view, s0, rows, false), false);
}

Status scatter_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, HostStaging& stage,
                    std::span<const std::byte> in) {
  const std::size_t bytes = dense_rows_bytes(view, rows);
  VKATTN_TRY(check_dense_size("scatter_rows", in.size(), bytes));
  if (bytes == 0) return Status::ok();
  VKATTN_TRY(stage.reserve(ctx, bytes));
  std::memcpy(stage.mapped(), in.data(), bytes);
  return copy(ctx, stage.buffer(), view.buffer, row_regions(view, s0, rows, true), false);
}

}  // namespace vkattn
