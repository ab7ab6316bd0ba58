// vkattn/tensor.hpp — views over any VkBuffer, and owning device tensors.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "vkattn/dtype.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

class Context;

inline constexpr int kMaxRank = 4;

// Memory orders for attention tensors. Shapes are always given in the logical order
// [B, H, S, D]; a layout only chooses the strides.
enum class Layout {
  kBHSD,  // [B][H][S][D] in memory
  kBSHD,  // [B][S][H][D] in memory (PyTorch/FlashAttention "batch first, heads inner")
  kSBHD,  // [S][B][H][D] in memory
};

// A strided view of a VkBuffer. Nothing is owned: the buffer must have been created with
// VK_BUFFER_USAGE_STORAGE_BUFFER_BIT (vkattn cannot check it) and must outlive the execution of
// every command buffer that recorded it. fp16 views are bounds-checked in whole 32-bit words:
// `buffer_size` must cover the word that holds the last element.
struct TensorView {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize buffer_size = 0;  // size of the whole VkBuffer in bytes (for bounds checks)
  VkDeviceSize offset = 0;       // byte offset of element [0, 0, ...]
  DType dtype = DType::kF32;
  int rank = 0;
  std::array<std::int64_t, kMaxRank> shape{};    // logical extents, outermost first
  std::array<std::int64_t, kMaxRank> strides{};  // in elements, same order as shape

  // A dense row-major view of `shape`.
  static TensorView contiguous(VkBuffer buffer, VkDeviceSize buffer_size, DType dtype,
                               std::initializer_list<std::int64_t> shape, VkDeviceSize offset = 0);
  // A [B, H, S, D] view whose memory order is `layout`.
  static TensorView attention(VkBuffer buffer, VkDeviceSize buffer_size, DType dtype, Layout layout, std::int64_t b,
                              std::int64_t h, std::int64_t s, std::int64_t d, VkDeviceSize offset = 0);

  // Channels-last spatial input [B, *spatial, H * D] (1 to 3 spatial axes, as vision blocks
  // store activations) seen as [B, H, S, D] with S = the product of the spatial extents: this is
  // the BSHD layout, token s = the row-major index of the spatial position.
  static TensorView channels_last(VkBuffer buffer, VkDeviceSize buffer_size, DType dtype, std::int64_t b,
                                  std::span<const std::int64_t> spatial, std::int64_t h, std::int64_t d,
                                  VkDeviceSize offset = 0);

  std::int64_t numel() const;
};

// A device-local buffer owned by this object. Move-only; must not outlive its Context.
class Tensor {
 public:
  // A dense row-major tensor of `shape` (rank 1..4).
  static Result<Tensor> create(Context& ctx, DType dtype, std::span<const std::int64_t> shape);
  static Result<Tensor> create(Context& ctx, DType dtype, std::initializer_list<std::int64_t> shape) {
    return create(ctx, dtype, std::span<const std::int64_t>(shape.begin(), shape.size()));
  }
  // Raw storage of `bytes` bytes, for views with custom strides (e.g. a fused QKV buffer).
  static Result<Tensor> create_bytes(Context& ctx, VkDeviceSize bytes, DType dtype = DType::kF32);

  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor();

  // Converts from fp32 to this tensor's dtype and copies through a staging buffer (blocking).
  // `values.size()` must equal the number of elements of the storage.
  Status upload(std::span<const float> values);
  Status upload_bytes(std::span<const std::byte> bytes);
  // Copies back and converts to fp32 (blocking).
  Result<std::vector<float>> download() const;
  Result<std::vector<std::byte>> download_bytes() const;
  // Fills every element with `value` (e.g. NaN to poison outputs before a run).
  Status fill(float value);

  TensorView view() const;  // the dense view given at creation (rank 1 for create_bytes)
  VkBuffer buffer() const { return buffer_; }
  VkDeviceSize size_bytes() const { return bytes_; }
  DType dtype() const { return dtype_; }
  std::int64_t numel() const { return static_cast<std::int64_t>(bytes_ / dtype_size(dtype_)); }

 private:
  Tensor() = default;
  void release();

  Context* ctx_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize bytes_ = 0;
  DType dtype_ = DType::kF32;
  std::vector<std::int64_t> shape_;
};

}  // namespace vkattn
