#include "pipelines/pipeline_registry.hpp"

#include <vector>

#include "base/vk_util.hpp"
#include "device/device.hpp"
#include "pipelines/pipeline_cache_file.hpp"
#include "pipelines/pipeline_cache_load.hpp"
#include "pipelines/pipeline_report.hpp"

namespace vkattn {

const char* to_string(CacheFileState state) {
  switch (state) {
    case CacheFileState::kDisabled:
      return "disabled";
    case CacheFileState::kAbsent:
      return "absent";
    case CacheFileState::kLoaded:
      return "loaded";
    case CacheFileState::kRejected:
      return "rejected";
  }
  return "unknown";
}

std::size_t PipelineKeyHash::operator()(const PipelineKey& k) const {
  std::uint64_t h = 0xcbf29ce484222325ull ^ static_cast<std::uint64_t>(k.shader);
  for (std::uint32_t w : k.spec_words) {
    h = (h ^ w) * 0x100000001b3ull;
  }
  return static_cast<std::size_t>(h);
}

Pipeline::~Pipeline() {
  if (handle != VK_NULL_HANDLE) vkDestroyPipeline(device, handle, nullptr);
}

Result<std::unique_ptr<PipelineRegistry>> PipelineRegistry::create(const Device& device,
                                                                   const PipelineCacheOptions& options) {
  std::unique_ptr<PipelineRegistry> reg(new PipelineRegistry(device, options));
  reg->stats_.capacity = options.capacity;
  VKATTN_TRY(reg->load_cache());
  return reg;
}

Status PipelineRegistry::load_cache() {
  if (!options_.persist) {
    Result<VkPipelineCache> empty = create_empty_pipeline_cache(device_.device);
    VKATTN_TRY(empty.status());
    cache_ = empty.value();
    return Status::ok();
  }
  file_.path =
      !options_.path.empty() ? options_.path : default_cache_path(device_.info.vendor_id, device_.info.device_id);
  Result<std::vector<std::byte>> raw = read_file(file_.path);
  Result<VkPipelineCache> cache =
      raw.is_ok() ? create_pipeline_cache_from_file(device_.device, cache_identity(device_.info), raw.value(), file_)
                  : create_empty_pipeline_cache(device_.device);
  if (!raw.is_ok()) {
    file_.state = raw.status().code() == ErrorCode::kNotFound ? CacheFileState::kAbsent : CacheFileState::kRejected;
    if (file_.state == CacheFileState::kRejected) file_.reason = raw.status().message();
  }
  VKATTN_TRY(cache.status());
  cache_ = cache.value();
  if (file_.state == CacheFileState::kRejected) {
    device_.log_message(LogLevel::kWarning,
                        "pipeline cache file " + file_.path + " ignored (" + file_.reason + "); it will be replaced");
    dirty_ = true;  // replace the bad file at the next save even if nothing new is built
  }
  return Status::ok();
}

PipelineRegistry::~PipelineRegistry() {
  lru_.clear();
  index_.clear();
  for (auto& [id, m] : modules_) vkDestroyShaderModule(device_.device, m, nullptr);
  for (auto& [id, l] : layouts_) {
    vkDestroyPipelineLayout(device_.device, l.layout, nullptr);
    vkDestroyDescriptorSetLayout(device_.device, l.set_layout, nullptr);
  }
  if (cache_ != VK_NULL_HANDLE) vkDestroyPipelineCache(device_.device, cache_, nullptr);
}

Status PipelineRegistry::save() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_.state == CacheFileState::kDisabled) return Status::ok();
  std::size_t size = 0;
  VKATTN_VK(vkGetPipelineCacheData(device_.device, cache_, &size, nullptr), "vkGetPipelineCacheData(size)");
  std::vector<std::byte> blob(size);
  VKATTN_VK(vkGetPipelineCacheData(device_.device, cache_, &size, blob.data()), "vkGetPipelineCacheData");
  blob.resize(size);
  VKATTN_TRY(write_file_atomically(file_.path, encode_cache_file(cache_identity(device_.info), blob)));
  dirty_ = false;
  return Status::ok();
}

PipelineStats PipelineRegistry::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  PipelineStats s = stats_;
  s.size = lru_.size();
  return s;
}

std::vector<PipelineReport> PipelineRegistry::reports() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<PipelineReport> all;
  for (const auto& [key, pipeline] : lru_) all.insert(all.end(), pipeline->reports.begin(), pipeline->reports.end());
  return all;
}

Result<PipelineRegistry::Layout> PipelineRegistry::layout_for(ShaderId shader, const PipelineRecipe& recipe) {
  if (auto it = layouts_.find(shader); it != layouts_.end()) return it->second;
  std::vector<VkDescriptorSetLayoutBinding> bindings(recipe.storage_buffers);
  for (std::uint32_t i = 0; i < recipe.storage_buffers; ++i) {
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  VkDescriptorSetLayoutCreateInfo dsl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  if (device_.info.push_descriptors) dsl.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  dsl.bindingCount = recipe.storage_buffers;
  dsl.pBindings = bindings.data();
  Layout l;
  VKATTN_VK(vkCreateDescriptorSetLayout(device_.device, &dsl, nullptr, &l.set_layout), "vkCreateDescriptorSetLayout");
  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, recipe.push_constant_bytes};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &l.set_layout;
  pl.pushConstantRangeCount = recipe.push_constant_bytes > 0 ? 1u : 0u;
  pl.pPushConstantRanges = &range;
  const VkResult r = vkCreatePipelineLayout(device_.device, &pl, nullptr, &l.layout);
  if (r != VK_SUCCESS) {
    vkDestroyDescriptorSetLayout(device_.device, l.set_layout, nullptr);
    return Status::from_vk(r, "vkCreatePipelineLayout");
  }
  layouts_[shader] = l;
  return l;
}

Result<std::shared_ptr<const Pipeline>> PipelineRegistry::build(const PipelineKey& key, const PipelineRecipe& recipe) {
  Result<Layout> layout = layout_for(key.shader, recipe);
  if (!layout) return layout.status();
  if (shader_spirv(key.shader).empty()) {
    return Status(ErrorCode::kUnsupported, std::string(to_string(key.shader)) +
                                               " is not compiled in (the shader toolchain lacked its extension)");
  }
  VkShaderModule& module = modules_[key.shader];
  if (module == VK_NULL_HANDLE) {
    const std::span<const std::uint32_t> code = shader_spirv(key.shader);
    VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smi.codeSize = code.size_bytes();
    smi.pCode = code.data();
    const VkResult r = vkCreateShaderModule(device_.device, &smi, nullptr, &module);
    if (r != VK_SUCCESS) {
      modules_.erase(key.shader);
      return Status::from_vk(r, std::string("vkCreateShaderModule(") + to_string(key.shader) + ")");
    }
  }
  VkSpecializationInfo spec{};
  spec.mapEntryCount = static_cast<std::uint32_t>(recipe.spec_map.size());
  spec.pMapEntries = recipe.spec_map.data();
  spec.dataSize = key.spec_words.size() * sizeof(std::uint32_t);
  spec.pData = key.spec_words.data();
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = &spec;
  ci.layout = layout->layout;
  if (device_.info.pipeline_statistics) ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  auto p = std::make_shared<Pipeline>();
  p->device = device_.device;
  p->layout = layout->layout;
  p->set_layout = layout->set_layout;
  p->push_descriptors = device_.info.push_descriptors;
  p->name = recipe.name;
  VKATTN_VK(vkCreateComputePipelines(device_.device, cache_, 1, &ci, nullptr, &p->handle),
            "vkCreateComputePipelines(" + recipe.name + ")");
  device_.name_object(VK_OBJECT_TYPE_PIPELINE, reinterpret_cast<std::uint64_t>(p->handle), recipe.name);
  p->reports = capture_reports(device_, p->handle, recipe.name);
  return std::shared_ptr<const Pipeline>(std::move(p));
}

Result<std::shared_ptr<const Pipeline>> PipelineRegistry::get(const PipelineKey& key, const PipelineRecipe& recipe) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, it->second);  // now most recently used
    return it->second->second;
  }
  ++stats_.misses;
  Result<std::shared_ptr<const Pipeline>> built = build(key, recipe);
  if (!built) return built.status();
  dirty_ = true;
  std::shared_ptr<const Pipeline> pipeline = built.value();
  lru_.emplace_front(key, pipeline);
  index_[key] = lru_.begin();
  while (lru_.size() > stats_.capacity) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
    ++stats_.evictions;
  }
  return pipeline;
}

}  // namespace vkattn
