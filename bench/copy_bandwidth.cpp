#include "copy_bandwidth.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <functional>
#include <string>
#include <vector>

#include "gpu_timer.hpp"
#include "vkattn_stream_copy.spv.h"

namespace vkattn::bench {
namespace {

// Median GB/s (2 x bytes per run) of `record` after `warm_up_seconds` of untimed runs.
Result<double> median_gbps(GpuTimer& timer, const std::function<Status(VkCommandBuffer)>& record, VkDeviceSize bytes,
                           double warm_up_seconds) {
  double warm = 0.0;
  for (int i = 0; i < 2 || (warm < warm_up_seconds && i < 10000); ++i) {
    Result<double> t = timer.time(record);
    if (!t) return t.status();
    warm += *t;
  }
  std::vector<double> seconds;
  for (int i = 0; i < 9; ++i) {
    Result<double> t = timer.time(record);
    if (!t) return t.status();
    seconds.push_back(*t);
  }
  std::sort(seconds.begin(), seconds.end());
  return 2.0 * static_cast<double>(bytes) / seconds[seconds.size() / 2] * 1e-9;
}

// stream_copy.comp's pipeline and its one descriptor set (src, dst), destroyed with it.
class StreamCopy {
 public:
  explicit StreamCopy(VkDevice device) : device_(device) {}
  StreamCopy(const StreamCopy&) = delete;
  StreamCopy& operator=(const StreamCopy&) = delete;
  ~StreamCopy() {
    if (pipeline_ != VK_NULL_HANDLE) vkDestroyPipeline(device_, pipeline_, nullptr);
    if (module_ != VK_NULL_HANDLE) vkDestroyShaderModule(device_, module_, nullptr);
    if (pool_ != VK_NULL_HANDLE) vkDestroyDescriptorPool(device_, pool_, nullptr);
    if (pipeline_layout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(device_, pipeline_layout_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
  }

  // Binds `range` bytes of src and dst (at most maxStorageBufferRange).
  Status create(VkBuffer src, VkBuffer dst, VkDeviceSize range) {
    VkDescriptorSetLayoutBinding bindings[2] = {};
    for (std::uint32_t i = 0; i < 2; ++i) {
      bindings[i].binding = i;
      bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      bindings[i].descriptorCount = 1;
      bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo sli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    sli.bindingCount = 2;
    sli.pBindings = bindings;
    if (VkResult r = vkCreateDescriptorSetLayout(device_, &sli, nullptr, &set_layout_); r != VK_SUCCESS) {
      return Status::from_vk(r, "vkCreateDescriptorSetLayout");
    }
    const VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(std::uint32_t)};
    VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pli.setLayoutCount = 1;
    pli.pSetLayouts = &set_layout_;
    pli.pushConstantRangeCount = 1;
    pli.pPushConstantRanges = &push;
    if (VkResult r = vkCreatePipelineLayout(device_, &pli, nullptr, &pipeline_layout_); r != VK_SUCCESS) {
      return Status::from_vk(r, "vkCreatePipelineLayout");
    }
    VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smi.codeSize = sizeof(vkattn_stream_copy);
    smi.pCode = vkattn_stream_copy;
    if (VkResult r = vkCreateShaderModule(device_, &smi, nullptr, &module_); r != VK_SUCCESS) {
      return Status::from_vk(r, "vkCreateShaderModule");
    }
    VkComputePipelineCreateInfo cpi{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cpi.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpi.stage.module = module_;
    cpi.stage.pName = "main";
    cpi.layout = pipeline_layout_;
    if (VkResult r = vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cpi, nullptr, &pipeline_); r != VK_SUCCESS) {
      return Status::from_vk(r, "vkCreateComputePipelines");
    }
    const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
    VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpi.maxSets = 1;
    dpi.poolSizeCount = 1;
    dpi.pPoolSizes = &size;
    if (VkResult r = vkCreateDescriptorPool(device_, &dpi, nullptr, &pool_); r != VK_SUCCESS) {
      return Status::from_vk(r, "vkCreateDescriptorPool");
    }
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pool_;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &set_layout_;
    if (VkResult r = vkAllocateDescriptorSets(device_, &ai, &set_); r != VK_SUCCESS) {
      return Status::from_vk(r, "vkAllocateDescriptorSets");
    }
    const VkDescriptorBufferInfo infos[2] = {{src, 0, range}, {dst, 0, range}};
    VkWriteDescriptorSet writes[2] = {};
    for (std::uint32_t i = 0; i < 2; ++i) {
      writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      writes[i].dstSet = set_;
      writes[i].dstBinding = i;
      writes[i].descriptorCount = 1;
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(device_, 2, writes, 0, nullptr);
    return Status::ok();
  }

  void record(VkCommandBuffer cmd, std::uint32_t words, std::uint32_t workgroups) const {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout_, 0, 1, &set_, 0, nullptr);
    vkCmdPushConstants(cmd, pipeline_layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(words), &words);
    vkCmdDispatch(cmd, workgroups, 1, 1);
  }

 private:
  VkDevice device_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout pipeline_layout_ = VK_NULL_HANDLE;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  VkDescriptorSet set_ = VK_NULL_HANDLE;
};

// Copies 4 MiB of distinct words (0, 1, 2, ...) into a poisoned buffer with a grid of 7
// workgroups (each invocation loops ~146 times) and compares every word.
Status check_stream_copy(Context& ctx) {
  constexpr std::uint32_t kValues = 1u << 20;
  constexpr VkDeviceSize kBytes = VkDeviceSize{kValues} * 4;
  std::vector<std::uint32_t> iota(kValues);
  for (std::uint32_t i = 0; i < kValues; ++i) iota[i] = i;
  Result<Tensor> src = Tensor::create_bytes(ctx, kBytes);
  if (!src) return src.status();
  Result<Tensor> dst = Tensor::create_bytes(ctx, kBytes);
  if (!dst) return dst.status();
  if (Status s = src->upload_bytes(std::as_bytes(std::span(iota))); !s) return s;
  StreamCopy copy(ctx.device());
  if (Status s = copy.create(src->buffer(), dst->buffer(), kBytes); !s) return s;
  if (Status s = ctx.submit_and_wait([&](VkCommandBuffer cmd) {
        vkCmdFillBuffer(cmd, dst->buffer(), 0, kBytes, 0xFFFFFFFFu);
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                           VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                             nullptr, 0, nullptr);
        copy.record(cmd, kValues / 4, 7);
      });
      !s) {
    return s;
  }
  Result<std::vector<std::byte>> copied = dst->download_bytes();
  if (!copied) return copied.status();
  for (std::uint32_t i = 0; i < kValues; ++i) {
    std::uint32_t v = 0;
    std::memcpy(&v, copied->data() + VkDeviceSize{i} * 4, 4);
    if (v != i) {
      return Status(ErrorCode::kUnsupported, "copy bandwidth: stream_copy.comp's check copy wrote word " +
                                                 std::to_string(i) + " = " + std::to_string(v) + " (the probe is wrong)");
    }
  }
  return Status::ok();
}

// GB/s of stream_copy.comp copying the first `bytes` of src into dst (checked first).
Result<double> shader_copy_gbps(Context& ctx, GpuTimer& timer, const Tensor& src, const Tensor& dst, VkDeviceSize bytes,
                                double warm_up_seconds) {
  if (Status s = check_stream_copy(ctx); !s) return s;
  const VkDeviceSize words = bytes / 16;
  StreamCopy copy(ctx.device());
  if (Status s = copy.create(src.buffer(), dst.buffer(), words * 16); !s) return s;
  // Eight 256-invocation workgroups per compute unit where known, else as many as the words need,
  // within the grid's limit: invocations step 2048 x units words apart and each copies about
  // words / (2048 x units) words.
  const std::uint64_t wanted = (words + 255) / 256;
  const std::uint64_t by_units = ctx.info().compute_units != 0 ? std::uint64_t{8} * ctx.info().compute_units : wanted;
  const auto workgroups =
      static_cast<std::uint32_t>(std::min<std::uint64_t>({wanted, by_units, ctx.info().max_workgroup_count[0]}));
  return median_gbps(
      timer,
      [&](VkCommandBuffer cmd) {
        copy.record(cmd, static_cast<std::uint32_t>(words), workgroups);
        return Status::ok();
      },
      words * 16, warm_up_seconds);
}

// Median microseconds per call of `dispatches` tiny stream_copy dispatches (16 bytes, one
// workgroup) separated and followed by compute barriers, four calls per timed sample as
// vkattn-bench records a plan.
Result<double> dispatch_floor_us(Context& ctx, GpuTimer& timer, const Tensor& src, const Tensor& dst, int dispatches) {
  constexpr int kCallsPerSample = 4;
  StreamCopy copy(ctx.device());
  if (Status s = copy.create(src.buffer(), dst.buffer(), 16); !s) return s;
  const auto record = [&](VkCommandBuffer cmd) {
    for (int call = 0; call < kCallsPerSample; ++call) {
      for (int i = 0; i < dispatches; ++i) {
        copy.record(cmd, 1, 1);
        compute_barrier(cmd);
      }
    }
    return Status::ok();
  };
  std::vector<double> seconds;
  for (int i = 0; i < 30; ++i) {
    Result<double> t = timer.time(record);
    if (!t) return t.status();
    if (i >= 5) seconds.push_back(*t);
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2] / kCallsPerSample * 1e6;
}

}  // namespace

Result<CopyBandwidth> measure_copy_bandwidth(Context& ctx, VkDeviceSize bytes, double warm_up_seconds) {
  if (bytes < 16) {
    return Status(ErrorCode::kInvalidArgument, "copy bandwidth: bytes = " + std::to_string(bytes) + " (at least 16)");
  }
  Result<Tensor> src = Tensor::create_bytes(ctx, bytes);
  if (!src) return src.status();
  Result<Tensor> dst = Tensor::create_bytes(ctx, bytes);
  if (!dst) return dst.status();
  if (Status s = src->fill(1.0f); !s) return s;
  Result<GpuTimer> timer = GpuTimer::create(ctx);
  if (!timer) return timer.status();
  CopyBandwidth out;
  const VkBufferCopy region{0, 0, bytes};
  Result<double> command = median_gbps(
      *timer,
      [&](VkCommandBuffer cmd) {
        vkCmdCopyBuffer(cmd, src->buffer(), dst->buffer(), 1, &region);
        return Status::ok();
      },
      bytes, warm_up_seconds);
  if (!command) return command.status();
  out.command_gbps = *command;
  // One binding holds at most maxStorageBufferRange bytes (and the shader counts words in 32 bits).
  const VkDeviceSize limit = std::min<VkDeviceSize>(ctx.info().max_storage_buffer_range, VkDeviceSize{1} << 31);
  out.shader_bytes = std::min(bytes, limit) / 16 * 16;
  Result<double> shader = shader_copy_gbps(ctx, *timer, *src, *dst, out.shader_bytes, warm_up_seconds);
  if (shader) {
    out.shader_gbps = *shader;
    Result<double> one = dispatch_floor_us(ctx, *timer, *src, *dst, 1);
    if (!one) return one.status();
    Result<double> two = dispatch_floor_us(ctx, *timer, *src, *dst, 2);
    if (!two) return two.status();
    out.one_dispatch_us = *one;
    out.two_dispatches_us = *two;
  } else {
    out.shader_failure = shader.status().to_string();
  }
  return out;
}

}  // namespace vkattn::bench
