// Creating a Device of vkattn's own (instance, validation, physical device, queue) or adopting a
// host application's, and filling DeviceInfo from what the device reports.
#pragma once

#include <memory>
#include <string>

#include "device/device.hpp"
#include "vkattn/log.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

// What a device is created with (the context's options, after the environment was read).
struct DeviceRequest {
  std::string selector;     // owned: "" (best device), an index, or a name substring
  bool validation = false;  // owned: VK_LAYER_KHRONOS_validation with synchronization validation
  bool force_pooled_descriptors = false;
  bool capture_pipeline_statistics = false;
  LogCallback log;
};

// A Vulkan 1.3 instance and device of vkattn's own, with one compute queue and the extensions
// vkattn uses where the device has them (push descriptors, VK_NV_cooperative_matrix,
// VK_KHR_pipeline_executable_properties when statistics are asked for).
Result<std::unique_ptr<Device>> create_device(const DeviceRequest& request);

// The host's handles: non-null, Vulkan 1.3, a compute-capable queue family. Each error names the
// field (host.instance, host.queue_family_index...) and its value.
Status check_host_handles(const HostHandles& host);

// The host's handles, checked (check_host_handles); creates nothing.
Result<std::unique_ptr<Device>> adopt_device(const HostHandles& host, const DeviceRequest& request);

}  // namespace vkattn
