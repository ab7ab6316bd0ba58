// Variant key -> VkPipeline, through a bounded LRU, over one persisted VkPipelineCache.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/shader_library.hpp"
#include "device/device.hpp"
#include "vkattn/pipeline_cache.hpp"
#include "vkattn/pipeline_report.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

// Identity of a pipeline: the entry point and every specialization constant (the workgroup size
// is one of them). Compared by value.
struct PipelineKey {
  ShaderId shader = ShaderId::kAttnFwd;
  std::vector<std::uint32_t> spec_words;
  bool operator==(const PipelineKey&) const = default;
};

struct PipelineKeyHash {
  std::size_t operator()(const PipelineKey& k) const;
};

// How to build a pipeline the registry has not seen.
struct PipelineRecipe {
  std::string name;  // procedural variant name: debug-utils name and log label
  std::span<const VkSpecializationMapEntry> spec_map;
  std::uint32_t storage_buffers = 0;  // bindings 0..n-1 of set 0
  std::uint32_t push_constant_bytes = 0;
};

// A built pipeline. Shared: the LRU and every plan using it hold a reference, so eviction never
// destroys a pipeline a plan still records.
struct Pipeline {
  VkDevice device = VK_NULL_HANDLE;
  VkPipeline handle = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;           // owned by the registry
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;  // owned by the registry
  bool push_descriptors = false;
  std::string name;
  std::vector<PipelineReport> reports;  // one per executable, captured at creation
  ~Pipeline();
};

class PipelineRegistry {
 public:
  // Loads the pipeline-cache file (if options.persist) and creates the VkPipelineCache.
  static Result<std::unique_ptr<PipelineRegistry>> create(const Device& device, const PipelineCacheOptions& options);
  ~PipelineRegistry();

  Result<std::shared_ptr<const Pipeline>> get(const PipelineKey& key, const PipelineRecipe& recipe);

  PipelineStats stats() const;
  std::vector<PipelineReport> reports() const;
  const CacheFileStatus& file_status() const { return file_; }
  Status save();
  // True when pipelines were built (or a bad file was found) since the last save.
  bool needs_save() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return dirty_;
  }

 private:
  struct Layout {
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
  };
  using LruList = std::list<std::pair<PipelineKey, std::shared_ptr<const Pipeline>>>;

  PipelineRegistry(const Device& device, const PipelineCacheOptions& options) : device_(device), options_(options) {}
  Status load_cache();
  Result<Layout> layout_for(ShaderId shader, const PipelineRecipe& recipe);
  Result<std::shared_ptr<const Pipeline>> build(const PipelineKey& key, const PipelineRecipe& recipe);

  const Device& device_;
  const PipelineCacheOptions options_;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  CacheFileStatus file_;
  mutable std::mutex mutex_;
  LruList lru_;  // most recently used first
  std::unordered_map<PipelineKey, LruList::iterator, PipelineKeyHash> index_;
  std::map<ShaderId, Layout> layouts_;
  std::map<ShaderId, VkShaderModule> modules_;
  PipelineStats stats_;
  bool dirty_ = false;  // new pipelines since the last save
};

}  // namespace vkattn
