#include "vkattn/tensor.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"

namespace vkattn {
namespace {

// Global barrier: everything before -> transfer, or transfer -> everything after.
void transfer_barrier(VkCommandBuffer cmd, bool before_copy) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = before_copy ? VK_ACCESS_MEMORY_WRITE_BIT : VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = before_copy ? (VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)
                                 : (VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT);
  const VkPipelineStageFlags src = before_copy ? VK_PIPELINE_STAGE_ALL_COMMANDS_BIT : VK_PIPELINE_STAGE_TRANSFER_BIT;
  const VkPipelineStageFlags dst = before_copy ? VK_PIPELINE_STAGE_TRANSFER_BIT : VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

// Copies between `device_buffer` and a host-visible staging buffer; `to_device` picks the direction.
Status staged_copy(Context& ctx, VkBuffer device_buffer, VkDeviceSize bytes, void* host, bool to_device) {
  const Device& s = *context_state(ctx).device;
  BufferAlloc staging;
  VKATTN_TRY(allocate(s, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                      VK_MEMORY_PROPERTY_HOST_CACHED_BIT, staging));  // cached: host reads of uncached
                                                                        // (write-combined) memory crawl
  void* mapped = nullptr;
  VKATTN_VK(vkMapMemory(s.device, staging.memory, 0, bytes, 0, &mapped), "vkMapMemory");
  if (to_device) std::memcpy(mapped, host, bytes);
  const VkBufferCopy region{0, 0, bytes};
  Status st = ctx.submit_and_wait([&](VkCommandBuffer cmd) {
    transfer_barrier(cmd, true);
    if (to_device) {
      vkCmdCopyBuffer(cmd, staging.buffer, device_buffer, 1, &region);
    } else {
      vkCmdCopyBuffer(cmd, device_buffer, staging.buffer, 1, &region);
    }
    transfer_barrier(cmd, false);
  });
  if (st && !to_device) std::memcpy(host, mapped, bytes);
  vkUnmapMemory(s.device, staging.memory);
  return st;
}

}  // namespace

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[static_cast<std::size_t>(i)];
  return n;
}

TensorView TensorView::contiguous(VkBuffer buffer, VkDeviceSize buffer_size, DType dtype,
                                  std::initializer_list<std::int64_t> shape, VkDeviceSize offset) {
  TensorView v;
  v.buffer = buffer;
  v.buffer_size = buffer_size;
  v.offset = offset;
  v.dtype = dtype;
  v.rank = static_cast<int>(shape.size());
  int i = 0;
  for (std::int64_t e : shape) {
    if (i < kMaxRank) v.shape[static_cast<std::size_t>(i)] = e;
    ++i;
  }
  std::int64_t stride = 1;
  for (int k = v.rank - 1; k >= 0; --k) {
    if (k < kMaxRank) {
      v.strides[static_cast<std::size_t>(k)] = stride;
      stride *= v.shape[static_cast<std::size_t>(k)];
    }
  }
  return v;
}

TensorView TensorView::attention(VkBuffer buffer, VkDeviceSize buffer_size, DType dtype, Layout layout, std::int64_t b,
                                 std::int64_t h, std::int64_t s, std::int64_t d, VkDeviceSize offset) {
  TensorView v;
  v.buffer = buffer;
  v.buffer_size = buffer_size;
  v.offset = offset;
  v.dtype = dtype;
  v.rank = 4;
  v.shape = {b, h, s, d};
  switch (layout) {
    case Layout::kBHSD:
      v.strides = {h * s * d, s * d, d, 1};
      break;
    case Layout::kBSHD:
      v.strides = {s * h * d, d, h * d, 1};
      break;
    case Layout::kSBHD:
      v.strides = {h * d, d, b * h * d, 1};
      break;
  }
  return v;
}

TensorView TensorView::channels_last(VkBuffer buffer, VkDeviceSize buffer_size, DType dtype, std::int64_t b,
                                     std::span<const std::int64_t> spatial, std::int64_t h, std::int64_t d,
                                     VkDeviceSize offset) {
  std::int64_t s = 1;
  for (std::int64_t extent : spatial) s *= extent;
  return attention(buffer, buffer_size, dtype, Layout::kBSHD, b, h, s, d, offset);
}

Result<Tensor> Tensor::create(Context& ctx, DType dtype, std::span<const std::int64_t> shape) {
  if (shape.empty() || shape.size() > static_cast<std::size_t>(kMaxRank)) {
    return invalid("shape: rank " + std::to_string(shape.size()) + " (must be 1.." + std::to_string(kMaxRank) + ")");
  }
  if (!known_dtype(dtype)) return invalid("dtype = " + std::to_string(static_cast<std::uint32_t>(dtype)) + " (must be f32, f16, i32 or bf16)");
  std::int64_t n = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0)
      return invalid("shape[" + std::to_string(i) + "] = " + std::to_string(shape[i]) + " (must be >= 1)");
    // Elements times the element size stay below 2^62 bytes (no device holds more).
    if (n > (std::int64_t{1} << 60) / shape[i]) {
      return invalid("shape[" + std::to_string(i) + "] = " + std::to_string(shape[i]) +
                     ": the tensor would have more than 2^60 elements");
    }
    n *= shape[i];
  }
  Result<Tensor> t = create_bytes(ctx, static_cast<VkDeviceSize>(n) * dtype_size(dtype), dtype);
  if (t) t->shape_.assign(shape.begin(), shape.end());
  return t;
}

Result<Tensor> Tensor::create_bytes(Context& ctx, VkDeviceSize bytes, DType dtype) {
  if (!known_dtype(dtype)) return invalid("dtype = " + std::to_string(static_cast<std::uint32_t>(dtype)) + " (must be f32, f16, i32 or bf16)");
  if (bytes == 0 || bytes % dtype_size(dtype) != 0) {
    return invalid("bytes = " + std::to_string(bytes) + " (must be a positive multiple of the element size)");
  }
  ContextState& s = context_state(ctx);
  BufferAlloc alloc;
  // Round up to 4 bytes so fp16 tensors with an odd count are still word-addressable.
  const VkDeviceSize padded = (bytes + 3) / 4 * 4;
  VKATTN_TRY(
      allocate(*s.device, padded,
               VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
               0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, alloc));
  Tensor t;
  t.ctx_ = &ctx;
  t.buffer_ = alloc.buffer;
  t.memory_ = alloc.memory;
  t.bytes_ = bytes;
  t.dtype_ = dtype;
  t.shape_ = {static_cast<std::int64_t>(bytes / dtype_size(dtype))};
  alloc.buffer = VK_NULL_HANDLE;
  alloc.memory = VK_NULL_HANDLE;
  s.live_children.fetch_add(1);
  return t;
}

Tensor::Tensor(Tensor&& o) noexcept { *this = std::move(o); }

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    release();
    ctx_ = std::exchange(o.ctx_, nullptr);
    buffer_ = std::exchange(o.buffer_, VK_NULL_HANDLE);
    memory_ = std::exchange(o.memory_, VK_NULL_HANDLE);
    bytes_ = std::exchange(o.bytes_, 0);
    dtype_ = o.dtype_;
    shape_ = std::move(o.shape_);
  }
  return *this;
}

Tensor::~Tensor() { release(); }

void Tensor::release() {
  if (ctx_ == nullptr) return;
  ContextState& s = context_state(*ctx_);
  if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(s.device->device, buffer_, nullptr);
  if (memory_ != VK_NULL_HANDLE) vkFreeMemory(s.device->device, memory_, nullptr);
  s.live_children.fetch_sub(1);
  ctx_ = nullptr;
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
}

TensorView Tensor::view() const {
  TensorView v;
  v.buffer = buffer_;
  v.buffer_size = (bytes_ + 3) / 4 * 4;
  v.dtype = dtype_;
  v.rank = static_cast<int>(shape_.size());
  std::int64_t stride = 1;
  for (int k = v.rank - 1; k >= 0; --k) {
    v.shape[static_cast<std::size_t>(k)] = shape_[static_cast<std::size_t>(k)];
    v.strides[static_cast<std::size_t>(k)] = stride;
    stride *= shape_[static_cast<std::size_t>(k)];
  }
  return v;
}

Status Tensor::upload_bytes(std::span<const std::byte> bytes) {
  if (bytes.size() != bytes_) {
    return invalid("upload: " + std::to_string(bytes.size()) + " bytes given, tensor holds " + std::to_string(bytes_));
  }
  std::vector<std::byte> padded((bytes_ + 3) / 4 * 4);
  std::memcpy(padded.data(), bytes.data(), bytes.size());
  return staged_copy(*ctx_, buffer_, padded.size(), padded.data(), true);
}

Status Tensor::upload(std::span<const float> values) {
  if (static_cast<std::int64_t>(values.size()) != numel()) {
    return invalid("upload: " + std::to_string(values.size()) + " values given, tensor holds " +
                   std::to_string(numel()));
  }
  std::vector<std::byte> bytes(bytes_);
  if (dtype_ == DType::kF32) {
    std::memcpy(bytes.data(), values.data(), bytes_);
  } else if (dtype_ == DType::kI32) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto x = static_cast<std::int32_t>(std::lround(values[i]));
      std::memcpy(bytes.data() + 4 * i, &x, 4);
    }
  } else {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::uint16_t h = dtype_ == DType::kBF16 ? float_to_bf16(values[i]) : float_to_half(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return upload_bytes(bytes);
}

Result<std::vector<std::byte>> Tensor::download_bytes() const {
  std::vector<std::byte> padded((bytes_ + 3) / 4 * 4);
  VKATTN_TRY(staged_copy(*ctx_, buffer_, padded.size(), padded.data(), false));
  padded.resize(bytes_);
  return padded;
}

Result<std::vector<float>> Tensor::download() const {
  Result<std::vector<std::byte>> raw = download_bytes();
  if (!raw) return raw.status();
  std::vector<float> out(static_cast<std::size_t>(numel()));
  if (dtype_ == DType::kF32) {
    std::memcpy(out.data(), raw->data(), bytes_);
  } else if (dtype_ == DType::kI32) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::int32_t x = 0;
      std::memcpy(&x, raw->data() + 4 * i, 4);
      out[i] = static_cast<float>(x);
    }
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint16_t h = 0;
      std::memcpy(&h, raw->data() + 2 * i, 2);
      out[i] = dtype_ == DType::kBF16 ? bf16_to_float(h) : half_to_float(h);
    }
  }
  return out;
}

Status Tensor::fill(float value) {
  std::vector<float> values(static_cast<std::size_t>(numel()), value);
  return upload(values);
}

}  // namespace vkattn
