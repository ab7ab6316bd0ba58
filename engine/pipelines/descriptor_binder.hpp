// Binds a kernel's storage buffers: push descriptors where the device has them, otherwise
// descriptor sets from pools owned by the binder.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <map>
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "vkattn/status.hpp"

namespace vkattn {

struct Device;
struct Pipeline;

class DescriptorBinder {
 public:
  static constexpr std::size_t kMaxBindings = 16;  // storage buffers of the largest kernel

  DescriptorBinder(const Device& device, std::shared_ptr<const Pipeline> pipeline);
  ~DescriptorBinder();
  DescriptorBinder(const DescriptorBinder&) = delete;
  DescriptorBinder& operator=(const DescriptorBinder&) = delete;

  // Records the binding of `buffers` (binding i = buffers[i]) for the pipeline.
  // Pooled path: one set is kept per distinct `buffers` and reused when the same buffers come
  // again; sets live until the binder (its plan) is destroyed, so recorded command buffers that
  // use them stay valid.
  Status bind(VkCommandBuffer cmd, std::span<const VkDescriptorBufferInfo> buffers);

  // Pooled path: creates (or finds) the set for `buffers` without recording anything, so that a
  // later bind() of the same buffers cannot fail. Plans reserve every set of a call before they
  // record its first command: an allocation failure then leaves the command buffer untouched.
  // Push path: nothing to do.
  Status reserve(std::span<const VkDescriptorBufferInfo> buffers);

  std::size_t pooled_sets() const { return sets_.size(); }

  // Pooled path: frees every kept set and its pools. Command buffers that bound them must have
  // finished executing, and must not be submitted again.
  void release_sets();

 private:
  using Key = std::array<std::tuple<VkBuffer, VkDeviceSize, VkDeviceSize>, kMaxBindings>;
  Result<VkDescriptorSet> pooled_set(std::span<const VkDescriptorBufferInfo> buffers);

  const Device& device_;
  std::shared_ptr<const Pipeline> pipeline_;
  std::vector<VkDescriptorPool> pools_;
  std::uint32_t left_in_pool_ = 0;
  std::map<Key, VkDescriptorSet> sets_;
};

}  // namespace vkattn
