#include "pipelines/pipeline_cache_load.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "base/vk_util.hpp"

namespace vkattn {
namespace {

Status bad_blob(const std::string& why) { return Status(ErrorCode::kInvalidArgument, "driver blob header: " + why); }

Result<VkPipelineCache> create_with(VkDevice device, std::span<const std::byte> blob) {
  VkPipelineCacheCreateInfo info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  info.initialDataSize = blob.size();
  info.pInitialData = blob.empty() ? nullptr : blob.data();
  VkPipelineCache cache = VK_NULL_HANDLE;
  VKATTN_VK(vkCreatePipelineCache(device, &info, nullptr, &cache), "vkCreatePipelineCache");
  return cache;
}

}  // namespace

CacheIdentity cache_identity(const DeviceInfo& info) {
  CacheIdentity id;
  id.vendor_id = info.vendor_id;
  id.device_id = info.device_id;
  id.driver_version = info.driver_version;
  std::memcpy(id.uuid, info.pipeline_cache_uuid, sizeof(id.uuid));
  return id;
}

Status check_driver_blob_header(std::span<const std::byte> blob, const CacheIdentity& id) {
  // VkPipelineCacheHeaderVersionOne: headerSize, headerVersion, vendorID, deviceID (u32 each),
  // then pipelineCacheUUID[16]; 32 bytes. Host byte order, which is little-endian wherever
  // vkattn builds (x86-64, AArch64).
  constexpr std::size_t kMinHeader = 32;
  if (blob.empty()) return Status::ok();
  if (blob.size() < kMinHeader) return bad_blob(std::to_string(blob.size()) + " bytes < 32");
  const std::uint32_t header_size = load_u32_le(blob.data());
  if (header_size < kMinHeader || header_size > blob.size()) {
    return bad_blob("headerSize " + std::to_string(header_size) + " outside [32, " + std::to_string(blob.size()) + "]");
  }
  const std::uint32_t version = load_u32_le(blob.data() + 4);
  if (version != VK_PIPELINE_CACHE_HEADER_VERSION_ONE) return bad_blob("headerVersion " + std::to_string(version));
  const std::uint32_t vendor = load_u32_le(blob.data() + 8);
  const std::uint32_t device = load_u32_le(blob.data() + 12);
  if (vendor != id.vendor_id || device != id.device_id) {
    return bad_blob("device " + std::to_string(vendor) + ":" + std::to_string(device) + ", this is " +
                    std::to_string(id.vendor_id) + ":" + std::to_string(id.device_id));
  }
  if (std::memcmp(blob.data() + 16, id.uuid, 16) != 0) return bad_blob("pipelineCacheUUID differs");
  return Status::ok();
}

Result<VkPipelineCache> create_pipeline_cache_from_file(VkDevice device, const CacheIdentity& id,
                                                        std::span<const std::byte> file, CacheFileStatus& status) {
  status.loaded_bytes = 0;
  status.reason.clear();
  Result<std::vector<std::byte>> decoded = decode_cache_file(file, id);
  Status usable = decoded.is_ok() ? check_driver_blob_header(decoded.value(), id) : decoded.status();
  if (usable.is_ok()) {
    Result<VkPipelineCache> cache = create_with(device, decoded.value());
    if (cache.is_ok()) {
      status.state = CacheFileState::kLoaded;
      status.loaded_bytes = decoded.value().size();
      return cache;
    }
    usable = Status(ErrorCode::kInvalidArgument, "driver rejected the blob (" + cache.status().message() + ")");
  }
  status.state = CacheFileState::kRejected;
  status.reason = usable.message();
  return create_empty_pipeline_cache(device);
}

Result<VkPipelineCache> create_empty_pipeline_cache(VkDevice device) { return create_with(device, {}); }

}  // namespace vkattn
