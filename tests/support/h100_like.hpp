// An H100-like DeviceInfo for the planning tests (tile rules checked on any host): coopmat with
// 32-lane subgroups, 1024 invocations, 48 KiB of shared memory, 65535 workgroups per dimension.
#pragma once

#include "vkattn/device.hpp"

namespace vkattn::test {

inline DeviceInfo h100_like() {
  DeviceInfo info;
  info.coopmat = true;
  info.subgroup_size = 32;
  info.max_workgroup_invocations = 1024;
  info.max_shared_memory = 49152;  // the H100's maxComputeSharedMemorySize
  info.max_workgroup_count[0] = info.max_workgroup_count[1] = info.max_workgroup_count[2] = 65535;
  return info;
}

}  // namespace vkattn::test
