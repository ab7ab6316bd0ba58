#include "planning/tensor_checks.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "base/vk_util.hpp"
#include "device/device.hpp"

namespace vkattn {
namespace {

std::string field(const ViewRequirement& r, const std::string& f) { return std::string(r.name) + "." + f; }
// True if no two distinct indices of (shape, strides) map to the same element.
bool non_overlapping(const TensorView& v) {
  std::vector<int> dims;
  for (int i = 0; i < v.rank; ++i) {
    if (v.shape[static_cast<std::size_t>(i)] > 1) dims.push_back(i);
  }
  std::sort(dims.begin(), dims.end(), [&](int a, int b) {
    return v.strides[static_cast<std::size_t>(a)] < v.strides[static_cast<std::size_t>(b)];
  });
  std::int64_t span = 1;  // elements covered by the dims sorted so far
  for (int d : dims) {
    const auto i = static_cast<std::size_t>(d);
    if (v.strides[i] < span) return false;
    span = v.strides[i] * (v.shape[i] - 1) + span;
  }
  return true;
}

}  // namespace

Result<BoundView> check_view(const Device& device, const TensorView& v, const ViewRequirement& r) {
  if (v.buffer == VK_NULL_HANDLE) return invalid(field(r, "buffer") + " is VK_NULL_HANDLE");
  const auto rank = static_cast<int>(r.shape.size());
  if (v.rank != rank) {
    std::string dims;
    for (const char* n : r.dim_names) dims += std::string(dims.empty() ? "" : ", ") + n;
    return invalid(field(r, "rank") + " = " + num(v.rank) + ", expected " + num(rank) + " ([" + dims + "])");
  }
  for (int i = 0; i < rank; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const bool broadcast = r.broadcast && i + 1 < rank && v.shape[k] == 1;
    if (v.shape[k] != r.shape[k] && !broadcast) {
      return invalid(field(r, "shape[" + num(i) + "]") + " (" + r.dim_names[k] + ") = " + num(v.shape[k]) +
                     ", expected " + num(r.shape[k]) + (r.broadcast && i + 1 < rank ? " or 1" : ""));
    }
    if (v.strides[k] < 0)
      return invalid(field(r, "strides[" + num(i) + "]") + " = " + num(v.strides[k]) + " is negative");
  }
  if (v.dtype != r.dtype) {
    return invalid(field(r, "dtype") + " = " + dtype_text(v.dtype) + ", expected " + to_string(r.dtype));
  }
  const auto last = static_cast<std::size_t>(rank - 1);
  if (r.innermost_contiguous && v.shape[last] > 1 && v.strides[last] != 1) {
    return invalid(field(r, "strides[" + num(rank - 1) + "]") + " = " + num(v.strides[last]) + ": the " +
                   r.dim_names[last] + " dimension must be contiguous (stride 1)");
  }
  if (r.dense) {
    std::int64_t expected = 1;
    for (int i = rank - 1; i >= 0; --i) {
      const auto k = static_cast<std::size_t>(i);
      if (v.shape[k] > 1 && v.strides[k] != expected) {
        return invalid(field(r, "strides[" + num(i) + "]") + " = " + num(v.strides[k]) + ", expected " + num(expected) +
                       " (" + r.name + " must be contiguous)");
      }
      expected *= v.shape[k];
    }
  }
  const auto es = static_cast<VkDeviceSize>(dtype_size(v.dtype));
  if (v.offset % es != 0) {
    return invalid(field(r, "offset") + " = " + num(static_cast<std::int64_t>(v.offset)) +
                   " bytes is not a multiple of the element size " + num(static_cast<std::int64_t>(es)));
  }
  if (v.buffer_size == 0) return invalid(field(r, "buffer_size") + " = 0");

  // Bytes [first, end) touched by the view, without wrapping: the offset lies inside the buffer,
  // and the last element (sum of (shape - 1) stride, checked for overflow) within the room left.
  const auto bytes_text = [](VkDeviceSize b) { return std::to_string(static_cast<unsigned long long>(b)); };
  // A view with a dimension of 0 (varlen with no tokens) touches nothing: its offset may sit at
  // the buffer's end, and it has no last element.
  const bool empty = std::any_of(v.shape.begin(), v.shape.begin() + rank, [](std::int64_t e) { return e == 0; });
  if (empty ? v.offset > v.buffer_size / 4 * 4 : v.offset >= v.buffer_size) {
    return invalid(field(r, "offset") + " = " + bytes_text(v.offset) + " is not inside the buffer (" +
                   field(r, "buffer_size") + " = " + bytes_text(v.buffer_size) + ")");
  }
  std::int64_t last_elem = empty ? -1 : 0;
  for (int i = 0; i < rank && !empty; ++i) {
    const auto k = static_cast<std::size_t>(i);
    std::int64_t term = 0;
    if (__builtin_mul_overflow(v.shape[k] - 1, v.strides[k], &term) || __builtin_add_overflow(last_elem, term, &last_elem)) {
      return invalid(std::string(r.name) + ": the view's extent (sum of (shape - 1) * stride) overflows 64 bits");
    }
  }
  const VkDeviceSize room = (v.buffer_size - v.offset) / es;  // whole elements from the offset on
  if (!empty && static_cast<VkDeviceSize>(last_elem) >= room) {
    VkDeviceSize end = 0;
    const bool wraps = __builtin_mul_overflow(static_cast<VkDeviceSize>(last_elem) + 1, es, &end) ||
                       __builtin_add_overflow(end, v.offset, &end);
    return invalid(std::string(r.name) + ": the view reaches byte " + (wraps ? "2^64 or beyond" : bytes_text(end)) +
                   " (offset " + bytes_text(v.offset) + " + strides) but " + field(r, "buffer_size") + " = " +
                   bytes_text(v.buffer_size));
  }
  const VkDeviceSize first = v.offset;
  const VkDeviceSize end_words = (v.offset + static_cast<VkDeviceSize>(last_elem + 1) * es + 3) / 4 * 4;
  if (end_words > v.buffer_size) {  // the last element fits, its 4-byte word does not
    return invalid(std::string(r.name) + ": the view reaches byte " + bytes_text(end_words) + " (offset " +
                   bytes_text(v.offset) + " + strides) but " + field(r, "buffer_size") + " = " + bytes_text(v.buffer_size));
  }
  // (after the extent check: its products then fit 64 bits; an empty view writes nothing)
  if (r.written && !empty && !non_overlapping(v)) {
    return invalid(std::string(r.name) + ": strides make distinct elements overlap in an output");
  }
  // Bind from the offset rounded down to minStorageBufferOffsetAlignment.
  const VkDeviceSize align = std::max<VkDeviceSize>(device.info.min_storage_buffer_offset_alignment, 4);
  // An empty view binds the buffer's start (a descriptor's offset must lie inside the buffer, and
  // its elements are never read or written).
  const VkDeviceSize bind_offset = empty ? 0 : v.offset / align * align;
  const VkDeviceSize range =
      empty ? VK_WHOLE_SIZE
            : std::min<VkDeviceSize>(v.buffer_size - bind_offset, device.info.max_storage_buffer_range) / 4 * 4;
  if (!empty && end_words - bind_offset > range) {
    return invalid(std::string(r.name) + ": the view spans " + num(static_cast<std::int64_t>(end_words - bind_offset)) +
                   " bytes, more than maxStorageBufferRange = " +
                   num(static_cast<std::int64_t>(device.info.max_storage_buffer_range)));
  }
  BoundView b;
  b.descriptor = {v.buffer, bind_offset, range};
  b.first_byte = first;
  b.end_byte = end_words;
  const VkDeviceSize elem_offset = empty ? 0 : (v.offset - bind_offset) / es;
  b.element_offset = static_cast<std::uint32_t>(elem_offset);  // < range / es, which fits
  for (int i = 0; i < rank; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (v.strides[k] > static_cast<std::int64_t>(UINT32_MAX)) {
      return invalid(field(r, "strides[" + num(i) + "]") + " = " + num(v.strides[k]) + " does not fit 32 bits");
    }
    b.strides[k] = v.shape[k] == 1 ? 0u : static_cast<std::uint32_t>(v.strides[k]);  // size-1 dims broadcast
  }
  if (r.written && dtype_size(v.dtype) == 2) {
    // fp16 and bf16 outputs are written as 32-bit words holding two elements of one row.
    const std::string kind = v.dtype == DType::kBF16 ? "a bf16 output" : "an fp16 output";
    if (b.element_offset % 2 != 0) {
      return invalid(field(r, "offset") + " = " + num(static_cast<std::int64_t>(v.offset)) +
                     " must be a multiple of 4 bytes for " + kind);
    }
    for (int i = 0; i + 1 < rank; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (v.shape[k] > 1 && v.strides[k] % 2 != 0) {
        return invalid(field(r, "strides[" + num(i) + "]") + " = " + num(v.strides[k]) +
                       " must be even for " + kind);
      }
    }
  }
  return b;
}

Status check_no_overlap(const BoundView& out, const char* out_name, const TensorView& out_view, const BoundView& in,
                        const char* in_name, const TensorView& in_view) {
  if (out_view.buffer != in_view.buffer) return Status::ok();
  if (out.first_byte < in.end_byte && in.first_byte < out.end_byte) {
    return invalid(std::string(out_name) + " (bytes " + std::to_string(out.first_byte) + ".." +
                   std::to_string(out.end_byte) + ") overlaps " + in_name + " (bytes " + std::to_string(in.first_byte) +
                   ".." + std::to_string(in.end_byte) + ") in the same buffer");
  }
  return Status::ok();
}

}  // namespace vkattn
