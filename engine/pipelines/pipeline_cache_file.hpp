// The on-disk pipeline cache: our header, validated before the driver sees its blob.
//
// Layout (little-endian), 64 bytes, then `payload_size` bytes of vkGetPipelineCacheData output:
//   0  char[8]  magic "VKATTNPC"
//   8  u32      format version (kCacheFormatVersion)
//  12  u32      header size (64)
//  16  u32      pointer size of the writer (sizeof(void*))
//  20  u32      VkPhysicalDeviceProperties::vendorID
//  24  u32      deviceID
//  28  u32      driverVersion
//  32  u8[16]   pipelineCacheUUID
//  48  u64      payload size
//  56  u64      FNV-1a 64 checksum of the payload
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vkattn/status.hpp"

namespace vkattn {

inline constexpr std::uint32_t kCacheFormatVersion = 1;
inline constexpr std::size_t kCacheHeaderSize = 64;

// Which device and driver a cache file belongs to.
struct CacheIdentity {
  std::uint32_t vendor_id = 0;
  std::uint32_t device_id = 0;
  std::uint32_t driver_version = 0;
  std::uint8_t uuid[16] = {};
};

std::uint64_t fnv1a64(std::span<const std::byte> data);

// The little-endian u32 at `p`.
std::uint32_t load_u32_le(const std::byte* p);

std::vector<std::byte> encode_cache_file(const CacheIdentity& id, std::span<const std::byte> payload);

// The driver blob of `file` if its header matches `id` and the checksum holds; otherwise
// kInvalidArgument with the reason (bad magic, other device, truncated, checksum mismatch...).
Result<std::vector<std::byte>> decode_cache_file(std::span<const std::byte> file, const CacheIdentity& id);

// Whole-file read; kNotFound if the file does not exist, kIo on other errors.
Result<std::vector<std::byte>> read_file(const std::string& path);

// Writes `data` to a unique temporary file beside `path`, flushes it to disk and renames it over
// `path`: readers see the old file or the new one, never a part. Creates missing directories.
Status write_file_atomically(const std::string& path, std::span<const std::byte> data);

// $XDG_CACHE_HOME/vkattn/ (else $HOME/.cache/vkattn/) + "pipelines-<vendor>-<device>.bin".
std::string default_cache_path(std::uint32_t vendor_id, std::uint32_t device_id);

}  // namespace vkattn
