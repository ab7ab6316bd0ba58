// The Vulkan structs of VK_KHR_cooperative_matrix and VK_NV_cooperative_matrix2 that the GEMM
// probe needs: the engine's declarations (for headers older than the extensions).
#pragma once

#include <vulkan/vulkan_core.h>

#include "device/vk_coopmat_khr.hpp"  // engine/

#include "device/vk_coopmat2_nv.hpp"  // engine/
