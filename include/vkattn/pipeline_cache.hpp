// vkattn/pipeline_cache.hpp — the in-memory pipeline LRU and the on-disk VkPipelineCache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vkattn {

struct PipelineCacheOptions {
  // Pipelines kept alive by the context (least recently used evicted first). A plan holds its
  // own reference, so eviction never invalidates a plan or a recorded command buffer.
  std::size_t capacity = 64;
  // Persist the VkPipelineCache across runs. Env VKATTN_PIPELINE_CACHE=off disables it too.
  bool persist = true;
  // File to load from and save to. Empty: env VKATTN_PIPELINE_CACHE if set, else
  // $XDG_CACHE_HOME/vkattn/ (or ~/.cache/vkattn/) + "pipelines-<vendor>-<device>.bin".
  std::string path;
};

// Counters of the in-memory pipeline LRU.
struct PipelineStats {
  std::uint64_t hits = 0;       // a plan found its variant already built
  std::uint64_t misses = 0;     // a variant had to be built (the VkPipelineCache may still help)
  std::uint64_t evictions = 0;  // variants dropped at capacity
  std::size_t size = 0;         // variants held now
  std::size_t capacity = 0;
};

// What happened to the pipeline-cache file when the context was created.
enum class CacheFileState {
  kDisabled,  // persistence off
  kAbsent,    // no file yet: the driver started with an empty cache
  kLoaded,    // header and checksum valid; the blob was handed to the driver
  kRejected,  // wrong magic/version/device/driver, truncated or corrupted: ignored (a warning
              // was logged) and replaced at the next save
};
const char* to_string(CacheFileState state);

struct CacheFileStatus {
  CacheFileState state = CacheFileState::kDisabled;
  std::string path;              // the file used (empty when disabled)
  std::size_t loaded_bytes = 0;  // driver blob bytes handed to vkCreatePipelineCache
  std::string reason;            // why it was rejected
};

}  // namespace vkattn
