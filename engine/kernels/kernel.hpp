// One kernel of a plan: a pipeline from the registry, the binding of its storage buffers, and
// its record step (bind the pipeline, bind the buffers, push the constants, dispatch). Plans
// compose kernels; none writes the bind/push/dispatch sequence itself.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/shader_library.hpp"
#include "device/device.hpp"
#include "pipelines/descriptor_binder.hpp"
#include "pipelines/pipeline_registry.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

// What a kernel is built from: the entry point, its specialization constants (a packed uint32
// struct with its map), the procedural name, and its interface sizes.
struct KernelBuild {
  ShaderId shader = ShaderId::kAttnFwd;
  std::vector<std::uint32_t> spec_words;
  std::span<const VkSpecializationMapEntry> spec_map;
  std::string name;                   // variant name (+ ".dq", ".wide_rows", ...)
  std::uint32_t storage_buffers = 0;  // bindings 0..n-1 of set 0
  std::uint32_t push_constant_bytes = 0;
};

// `spec` as the words a pipeline key and VkSpecializationInfo take.
template <class Spec>
std::vector<std::uint32_t> spec_words(const Spec& spec) {
  static_assert(sizeof(Spec) % 4 == 0);
  std::vector<std::uint32_t> words(sizeof(Spec) / 4);
  std::memcpy(words.data(), &spec, sizeof(Spec));
  return words;
}

using WorkgroupCount = std::array<std::uint32_t, 3>;

class Kernel {
 public:
  Kernel() = default;  // empty: a kernel the plan does not use
  static Result<Kernel> create(const Device& device, PipelineRegistry& registry, const KernelBuild& build);

  bool empty() const { return pipeline_ == nullptr; }
  const Pipeline& pipeline() const { return *pipeline_; }

  // Makes (pooled path) the descriptor set for `buffers` without recording anything, so that a
  // later record() with the same buffers cannot fail. Plans reserve every set of a call before
  // they record its first command.
  Status reserve(std::span<const VkDescriptorBufferInfo> buffers) { return binder_->reserve(buffers); }

  // Binds the pipeline and `buffers` (binding i = buffers[i]), pushes `push` and dispatches.
  template <class Push>
  Status record(VkCommandBuffer cmd, std::span<const VkDescriptorBufferInfo> buffers, const Push& push,
                WorkgroupCount groups) const {
    static_assert(sizeof(Push) % 4 == 0 && sizeof(Push) <= 128, "push constants fit the 128-byte minimum");
    return record_bytes(cmd, buffers, &push, sizeof(Push), groups);
  }

  // Pooled path: frees the kept descriptor sets (DescriptorBinder::release_sets).
  void release_sets() {
    if (binder_) binder_->release_sets();
  }

 private:
  Status record_bytes(VkCommandBuffer cmd, std::span<const VkDescriptorBufferInfo> buffers, const void* push,
                      std::uint32_t push_bytes, WorkgroupCount groups) const;

  std::shared_ptr<const Pipeline> pipeline_;
  std::unique_ptr<DescriptorBinder> binder_;
};

// Compute writes/reads before -> compute reads/writes after (a plan's workspace between its
// dispatches).
void compute_barrier(VkCommandBuffer cmd);

}  // namespace vkattn
