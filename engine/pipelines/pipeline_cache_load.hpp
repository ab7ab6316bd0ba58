// From the bytes of a cache file to a VkPipelineCache, trusting nothing in between.
//
// Three gates before the driver parses anything: our header (decode_cache_file: magic, version,
// device, driver, size, checksum), then the driver blob's own VkPipelineCacheHeaderVersionOne
// (length, version, vendor, device, pipelineCacheUUID), then vkCreatePipelineCache itself. A file
// failing any gate gives an empty cache and a kRejected status with the reason; only a failure
// to create even an empty cache is an error. The fuzz target (tests/fuzz/) drives this function.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstddef>
#include <span>

#include "pipelines/pipeline_cache_file.hpp"
#include "vkattn/device.hpp"
#include "vkattn/pipeline_cache.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

// The device and driver a cache file of `info`'s device must name.
CacheIdentity cache_identity(const DeviceInfo& info);

// kInvalidArgument naming the field when `blob` (a vkGetPipelineCacheData result) does not start
// with a VkPipelineCacheHeaderVersionOne for `id`'s device. An empty blob passes.
Status check_driver_blob_header(std::span<const std::byte> blob, const CacheIdentity& id);

// Creates a pipeline cache from `file` (the whole cache file). `status.state` becomes kLoaded
// (with loaded_bytes) or kRejected (with reason); `status.path` is left alone.
Result<VkPipelineCache> create_pipeline_cache_from_file(VkDevice device, const CacheIdentity& id,
                                                        std::span<const std::byte> file, CacheFileStatus& status);

// An empty pipeline cache.
Result<VkPipelineCache> create_empty_pipeline_cache(VkDevice device);

}  // namespace vkattn
