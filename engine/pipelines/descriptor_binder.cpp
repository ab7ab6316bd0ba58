#include "pipelines/descriptor_binder.hpp"

#include <array>
#include <string>

#include "base/vk_util.hpp"
#include "device/device.hpp"
#include "pipelines/pipeline_registry.hpp"

namespace vkattn {
namespace {
constexpr std::uint32_t kSetsPerPool = 8;

Status check_binding_count(std::size_t n) {
  if (n <= DescriptorBinder::kMaxBindings) return Status::ok();
  return Status(ErrorCode::kUnsupported, "a kernel binds " + std::to_string(n) + " buffers, at most " +
                                             std::to_string(DescriptorBinder::kMaxBindings));
}
}  // namespace

DescriptorBinder::DescriptorBinder(const Device& device, std::shared_ptr<const Pipeline> pipeline)
    : device_(device), pipeline_(std::move(pipeline)) {}

DescriptorBinder::~DescriptorBinder() { release_sets(); }

void DescriptorBinder::release_sets() {
  for (VkDescriptorPool p : pools_) vkDestroyDescriptorPool(device_.device, p, nullptr);
  pools_.clear();
  sets_.clear();
  left_in_pool_ = 0;
}

Result<VkDescriptorSet> DescriptorBinder::pooled_set(std::span<const VkDescriptorBufferInfo> buffers) {
  Key key{};
  for (std::size_t i = 0; i < buffers.size(); ++i) key[i] = {buffers[i].buffer, buffers[i].offset, buffers[i].range};
  if (auto it = sets_.find(key); it != sets_.end()) return it->second;
  if (left_in_pool_ == 0) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                              kSetsPerPool * static_cast<std::uint32_t>(buffers.size())};
    VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = kSetsPerPool;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VKATTN_VK(vkCreateDescriptorPool(device_.device, &pi, nullptr, &pool), "vkCreateDescriptorPool");
    pools_.push_back(pool);
    left_in_pool_ = kSetsPerPool;
  }
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = pools_.back();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &pipeline_->set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VKATTN_VK(vkAllocateDescriptorSets(device_.device, &ai, &set), "vkAllocateDescriptorSets");
  --left_in_pool_;
  std::array<VkWriteDescriptorSet, kMaxBindings> writes{};
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<std::uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &buffers[i];
  }
  vkUpdateDescriptorSets(device_.device, static_cast<std::uint32_t>(buffers.size()), writes.data(), 0, nullptr);
  sets_.emplace(std::move(key), set);
  return set;
}

Status DescriptorBinder::reserve(std::span<const VkDescriptorBufferInfo> buffers) {
  VKATTN_TRY(check_binding_count(buffers.size()));
  if (pipeline_->push_descriptors) return Status::ok();
  return pooled_set(buffers).status();
}

Status DescriptorBinder::bind(VkCommandBuffer cmd, std::span<const VkDescriptorBufferInfo> buffers) {
  VKATTN_TRY(check_binding_count(buffers.size()));
  if (pipeline_->push_descriptors) {
    std::array<VkWriteDescriptorSet, kMaxBindings> writes{};
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      writes[i].dstBinding = static_cast<std::uint32_t>(i);
      writes[i].descriptorCount = 1;
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[i].pBufferInfo = &buffers[i];
    }
    device_.cmd_push_descriptor_set(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_->layout, 0,
                                    static_cast<std::uint32_t>(buffers.size()), writes.data());
    return Status::ok();
  }
  Result<VkDescriptorSet> set = pooled_set(buffers);
  if (!set) return set.status();
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_->layout, 0, 1, &set.value(), 0, nullptr);
  return Status::ok();
}

}  // namespace vkattn
