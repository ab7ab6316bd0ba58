#include "pipelines/coopmat_layout.hpp"

#include <vulkan/vulkan_core.h>

#include <cstring>
#include <string>

#include "base/shader_library.hpp"
#include "base/vk_util.hpp"
#include "device/buffer_alloc.hpp"
#include "device/device.hpp"
#include "device/queue_submitter.hpp"

namespace vkattn {

namespace {

constexpr std::uint32_t kLanes = 32;
constexpr std::uint32_t kElems = 8;  // 16 x 16 over 32 lanes
// acc_cells, acc_counts, a_cells, a_counts (coopmat_layout_probe.comp's buffer).
constexpr std::size_t kProbeFloats = 2 * (kLanes * kElems + kLanes);

// The probe's Vulkan objects, destroyed in reverse order of creation.
struct ProbeObjects {
  VkDevice device = VK_NULL_HANDLE;
  VkShaderModule module = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  ~ProbeObjects() {
    if (pool != VK_NULL_HANDLE) vkDestroyDescriptorPool(device, pool, nullptr);
    if (pipeline != VK_NULL_HANDLE) vkDestroyPipeline(device, pipeline, nullptr);
    if (layout != VK_NULL_HANDLE) vkDestroyPipelineLayout(device, layout, nullptr);
    if (set_layout != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(device, set_layout, nullptr);
    if (module != VK_NULL_HANDLE) vkDestroyShaderModule(device, module, nullptr);
  }
};

std::string cell_name(std::uint32_t lane, std::uint32_t e) {
  return "lane " + std::to_string(lane) + " element " + std::to_string(e);
}

}  // namespace

std::string compare_with_mma_layout(std::span<const float> cells, std::span<const float> counts) {
  if (cells.size() < kLanes * kElems || counts.size() < kLanes) return "the probe returned too few values";
  for (std::uint32_t lane = 0; lane < kLanes; ++lane) {
    if (counts[lane] != static_cast<float>(kElems)) {
      return "lane " + std::to_string(lane) + " holds " + std::to_string(counts[lane]) + " elements, not 8";
    }
    for (std::uint32_t e = 0; e < kElems; ++e) {
      const float want = static_cast<float>(16 * mma_acc_row(lane, e) + mma_acc_col(lane, e));
      const float got = cells[lane * kElems + e];
      if (got != want) {
        return cell_name(lane, e) + " is matrix element " + std::to_string(got) + ", the mma layout has " +
               std::to_string(want);
      }
    }
  }
  return "";
}

std::string a_from_acc_order(std::span<const float> acc_cells, std::span<const float> a_cells,
                             std::span<const float> a_counts, std::uint32_t& order) {
  if (acc_cells.size() < kLanes * kElems || a_cells.size() < kLanes * kElems || a_counts.size() < kLanes) {
    return "the probe returned too few values";
  }
  std::uint32_t packed = 0;
  for (std::uint32_t lane = 0; lane < kLanes; ++lane) {
    if (a_counts[lane] != static_cast<float>(kElems)) {
      return "lane " + std::to_string(lane) + " holds " + std::to_string(a_counts[lane]) + " A elements, not 8";
    }
    for (std::uint32_t e = 0; e < kElems; ++e) {
      const float want = a_cells[lane * kElems + e];
      std::uint32_t from = kElems;
      for (std::uint32_t k = 0; k < kElems; ++k) {
        if (acc_cells[lane * kElems + k] == want) from = k;
      }
      if (from == kElems) {
        return "A " + cell_name(lane, e) + " (matrix element " + std::to_string(want) +
               ") is not among the lane's accumulator elements";
      }
      const std::uint32_t field = (packed >> (3 * e)) & 7u;
      if (lane == 0) {
        packed |= from << (3 * e);
      } else if (field != from) {
        return "A " + cell_name(lane, e) + " is accumulator element " + std::to_string(from) + ", lane 0's is " +
               std::to_string(field);
      }
    }
  }
  order = packed;
  return "";
}

Result<CoopmatLayout> probe_coopmat_layout(const Device& s, QueueSubmitter& queue, bool khr) {
  ProbeObjects o;
  o.device = s.device;

  const std::span<const std::uint32_t> code =
      shader_spirv(khr ? ShaderId::kCoopmatLayoutProbeKhr : ShaderId::kCoopmatLayoutProbe);
  VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smi.codeSize = code.size_bytes();
  smi.pCode = code.data();
  VKATTN_VK(vkCreateShaderModule(s.device, &smi, nullptr, &o.module), "vkCreateShaderModule(coopmat_layout_probe)");

  VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dsl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dsl.bindingCount = 1;
  dsl.pBindings = &binding;
  VKATTN_VK(vkCreateDescriptorSetLayout(s.device, &dsl, nullptr, &o.set_layout), "vkCreateDescriptorSetLayout");
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &o.set_layout;
  VKATTN_VK(vkCreatePipelineLayout(s.device, &pli, nullptr, &o.layout), "vkCreatePipelineLayout");

  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = o.module;
  ci.stage.pName = "main";
  ci.layout = o.layout;
  VKATTN_VK(vkCreateComputePipelines(s.device, VK_NULL_HANDLE, 1, &ci, nullptr, &o.pipeline),
            "vkCreateComputePipelines(coopmat_layout_probe)");

  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.maxSets = 1;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &size;
  VKATTN_VK(vkCreateDescriptorPool(s.device, &dpi, nullptr, &o.pool), "vkCreateDescriptorPool");
  VkDescriptorSetAllocateInfo dai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  dai.descriptorPool = o.pool;
  dai.descriptorSetCount = 1;
  dai.pSetLayouts = &o.set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VKATTN_VK(vkAllocateDescriptorSets(s.device, &dai, &set), "vkAllocateDescriptorSets");

  BufferAlloc out;
  VKATTN_TRY(allocate(s, kProbeFloats * sizeof(float), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0, out));
  VkDescriptorBufferInfo bi{out.buffer, 0, VK_WHOLE_SIZE};
  VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
  w.dstSet = set;
  w.descriptorCount = 1;
  w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  w.pBufferInfo = &bi;
  vkUpdateDescriptorSets(s.device, 1, &w, 0, nullptr);

  VKATTN_TRY(queue.submit_and_wait([&](VkCommandBuffer cmd) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, o.pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, o.layout, 0, 1, &set, 0, nullptr);
    vkCmdDispatch(cmd, 1, 1, 1);
    VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                            VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0,
                         nullptr, 0, nullptr);
  }));

  float values[kProbeFloats];
  void* mapped = nullptr;
  VKATTN_VK(vkMapMemory(s.device, out.memory, 0, sizeof(values), 0, &mapped), "vkMapMemory");
  std::memcpy(values, mapped, sizeof(values));
  vkUnmapMemory(s.device, out.memory);
  const std::span<const float> all(values, kProbeFloats);
  const std::span<const float> acc_cells = all.first(kLanes * kElems);
  const std::span<const float> acc_counts = all.subspan(kLanes * kElems, kLanes);
  const std::span<const float> a_cells = all.subspan(kLanes * kElems + kLanes, kLanes * kElems);
  const std::span<const float> a_counts = all.subspan(2 * kLanes * kElems + kLanes, kLanes);
  CoopmatLayout layout;
  layout.mismatch = compare_with_mma_layout(acc_cells, acc_counts);
  if (layout.mismatch.empty() && khr) {
    const std::string a = a_from_acc_order(acc_cells, a_cells, a_counts, layout.a_from_acc);
    if (!a.empty()) layout.mismatch = "the fp16 A operand's layout: " + a;
  }
  return layout;
}

}  // namespace vkattn
