// VK_KHR_cooperative_matrix's structs and entry point, written from the Vulkan specification for
// headers older than the extension (Debian 12's 1.3.239 lacks it); a header that has them is used
// as it is. The enum fields of the properties take the values of VkComponentTypeNV and VkScopeNV,
// which the KHR extension kept.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>

#ifndef VK_KHR_cooperative_matrix
#define VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME "VK_KHR_cooperative_matrix"
constexpr VkStructureType VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR =
    static_cast<VkStructureType>(1000506000);
constexpr VkStructureType VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR = static_cast<VkStructureType>(1000506001);
constexpr VkStructureType VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_KHR =
    static_cast<VkStructureType>(1000506002);
struct VkPhysicalDeviceCooperativeMatrixPropertiesKHR {
  VkStructureType sType;
  void* pNext;
  VkShaderStageFlags cooperativeMatrixSupportedStages;
};
struct VkPhysicalDeviceCooperativeMatrixFeaturesKHR {
  VkStructureType sType;
  void* pNext;
  VkBool32 cooperativeMatrix;
  VkBool32 cooperativeMatrixRobustBufferAccess;
};
struct VkCooperativeMatrixPropertiesKHR {
  VkStructureType sType;
  void* pNext;
  std::uint32_t MSize;
  std::uint32_t NSize;
  std::uint32_t KSize;
  VkComponentTypeNV AType;
  VkComponentTypeNV BType;
  VkComponentTypeNV CType;
  VkComponentTypeNV ResultType;
  VkBool32 saturatingAccumulation;
  VkScopeNV scope;
};
using PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR = VkResult(VKAPI_PTR*)(VkPhysicalDevice, std::uint32_t*,
                                                                                    VkCooperativeMatrixPropertiesKHR*);
#define VKATTN_KHR_FP16 VK_COMPONENT_TYPE_FLOAT16_NV
#define VKATTN_KHR_FP32 VK_COMPONENT_TYPE_FLOAT32_NV
#define VKATTN_KHR_SUBGROUP VK_SCOPE_SUBGROUP_NV
#else
#define VKATTN_KHR_FP16 VK_COMPONENT_TYPE_FLOAT16_KHR
#define VKATTN_KHR_FP32 VK_COMPONENT_TYPE_FLOAT32_KHR
#define VKATTN_KHR_SUBGROUP VK_SCOPE_SUBGROUP_KHR
#endif
