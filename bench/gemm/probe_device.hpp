// The probes' Vulkan device (vkattn-gemm-probe): its own instance and device with what each
// instruction path needs enabled where the device has it, input buffers uploaded once, and one
// compute dispatch timed by GPU timestamps. Shared by the GEMM probe (gemm_probe.cpp) and the
// attention probe (attn_probe.cpp).
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace vkattn::probe {

void check(VkResult r, const char* what);

// One pipeline and its dispatch: SPIR-V, specialization constants (constant_id 0, 1, ... in
// order), push constants (32-bit words) and the grid.
struct Dispatch {
  std::span<const std::uint32_t> spirv;
  std::vector<std::uint32_t> spec;
  std::vector<std::uint32_t> push;
  std::uint32_t groups_x = 1, groups_y = 1;
};

struct Buffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
};

class ProbeDevice {
 public:
  explicit ProbeDevice(const std::string& device_sel);
  ~ProbeDevice();
  ProbeDevice(const ProbeDevice&) = delete;
  ProbeDevice& operator=(const ProbeDevice&) = delete;
  // Whether `path` (scalar, nv, khr, cm2, cm2_attention) runs here; else `why` says what is missing.
  bool has(const std::string& path, std::string& why) const;
  bool cpu() const { return props_.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }
  const char* name() const { return props_.deviceName; }
  // Bindings 0 .. n-1: the inputs (halves, uploaded once); binding n: an output of out_bytes.
  void set_buffers(const std::vector<const std::vector<std::uint16_t>*>& inputs, std::size_t out_bytes);
  // Runs `d` (a warm-up, then 5 samples of `reps` dispatches, timed by timestamps) and returns the
  // median ms of one dispatch, with the output's bytes in `out`.
  double run(const Dispatch& d, int reps, std::vector<std::uint8_t>& out);

 private:
  Buffer make_buffer(VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags props);
  void free_buffer(Buffer& b);
  void submit(const std::function<void(VkCommandBuffer)>& record);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice phys_ = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties props_{};
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  std::uint32_t family_ = 0;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  bool nv_ = false, khr_ = false, cm2_ = false, cm2_attention_ = false, fp16_ = false;
  std::string nv_why_, khr_why_, cm2_why_;
  std::vector<Buffer> inputs_;
  Buffer out_, staging_;
};

}  // namespace vkattn::probe
