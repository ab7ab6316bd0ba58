#include "device/device_setup.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "base/vk_util.hpp"
#include "device/device_selection.hpp"
#include "device/vk_coopmat2_nv.hpp"
#include "device/vk_coopmat_khr.hpp"
#include "vkattn/kernel_path.hpp"

namespace vkattn {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

// True if `name` is among the names that `enumerate` lists (extensions or layers).
template <class Props, class Enumerate>
bool listed(const char* name, Enumerate enumerate) {
  std::uint32_t n = 0;
  enumerate(&n, static_cast<Props*>(nullptr));
  std::vector<Props> props(n);
  enumerate(&n, props.data());
  for (const Props& p : props) {
    const char* listed_name = nullptr;
    if constexpr (std::is_same_v<Props, VkLayerProperties>) {
      listed_name = p.layerName;
    } else {
      listed_name = p.extensionName;
    }
    if (std::strcmp(listed_name, name) == 0) return true;
  }
  return false;
}

bool has_instance_extension(const char* name) {
  return listed<VkExtensionProperties>(
      name, [](std::uint32_t* n, VkExtensionProperties* p) { vkEnumerateInstanceExtensionProperties(nullptr, n, p); });
}

bool has_layer(const char* name) {
  return listed<VkLayerProperties>(
      name, [](std::uint32_t* n, VkLayerProperties* p) { vkEnumerateInstanceLayerProperties(n, p); });
}

bool has_device_extension(VkPhysicalDevice device, const char* name) {
  return listed<VkExtensionProperties>(name, [device](std::uint32_t* n, VkExtensionProperties* p) {
    vkEnumerateDeviceExtensionProperties(device, nullptr, n, p);
  });
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  const auto* device = static_cast<const Device*>(user);
  const LogLevel level =
      severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT ? LogLevel::kError : LogLevel::kInfo;
  device->log_message(level, std::string("validation: ") + (data->pMessage ? data->pMessage : ""));
  return VK_FALSE;
}

// What both coopmat paths need besides their extension: shaderFloat16, the Vulkan memory model
// (+ device scope), and subgroups of exactly 32 lanes (no other size allowed) with shuffles and
// votes in compute. GL_*_cooperative_matrix need GL_KHR_memory_scope_semantics, so the SPIR-V
// declares the Vulkan memory model (its atomics name QueueFamily scope); device scope is enabled
// with it.
bool coopmat_base_capable(VkPhysicalDevice pd) {
  VkPhysicalDeviceVulkan12Features v12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &v12};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  if (v12.shaderFloat16 != VK_TRUE || v12.vulkanMemoryModel != VK_TRUE || v12.vulkanMemoryModelDeviceScope != VK_TRUE) {
    return false;
  }
  VkPhysicalDeviceSubgroupSizeControlProperties size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, &size_control};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &sg};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  const VkSubgroupFeatureFlags ops =
      VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT | VK_SUBGROUP_FEATURE_VOTE_BIT;
  return sg.subgroupSize == 32 && size_control.minSubgroupSize == 32 && size_control.maxSubgroupSize == 32 &&
         (sg.supportedOperations & ops) == ops && (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
}

// VK_NV_cooperative_matrix with its feature and a subgroup-scope fp16 x fp16 -> fp32 16x16x16
// shape, and coopmat_base_capable.
bool coopmat_capable(VkInstance instance, VkPhysicalDevice pd) {
  if (!has_device_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &cm};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  if (cm.cooperativeMatrix != VK_TRUE || !coopmat_base_capable(pd)) return false;
  auto get_props = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (get_props == nullptr) return false;
  std::uint32_t n = 0;
  get_props(pd, &n, nullptr);
  std::vector<VkCooperativeMatrixPropertiesNV> props(n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  get_props(pd, &n, props.data());
  for (const VkCooperativeMatrixPropertiesNV& p : props) {
    if (p.MSize == 16 && p.NSize == 16 && p.KSize == 16 && p.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        p.BType == VK_COMPONENT_TYPE_FLOAT16_NV && p.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        p.DType == VK_COMPONENT_TYPE_FLOAT32_NV && p.scope == VK_SCOPE_SUBGROUP_NV) {
      return true;
    }
  }
  return false;
}

// The same for VK_KHR_cooperative_matrix (KernelPath::kCoopmatKhr), in compute, where this
// build compiled the KHR kernels (the extension is not enabled otherwise).
bool coopmat_khr_capable(VkInstance instance, VkPhysicalDevice pd) {
  if (!toolchain_info().khr_cooperative_matrix) return false;
  if (!has_device_extension(pd, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR cm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &cm};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  if (cm.cooperativeMatrix != VK_TRUE || !coopmat_base_capable(pd)) return false;
  VkPhysicalDeviceCooperativeMatrixPropertiesKHR stages{};
  stages.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &stages};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  if ((stages.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) == 0) return false;
  auto get_props = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
  if (get_props == nullptr) return false;
  std::uint32_t n = 0;
  get_props(pd, &n, nullptr);
  VkCooperativeMatrixPropertiesKHR blank{};
  blank.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
  std::vector<VkCooperativeMatrixPropertiesKHR> props(n, blank);
  get_props(pd, &n, props.data());
  for (const VkCooperativeMatrixPropertiesKHR& p : props) {
    if (p.MSize == 16 && p.NSize == 16 && p.KSize == 16 && p.AType == VKATTN_KHR_FP16 && p.BType == VKATTN_KHR_FP16 &&
        p.CType == VKATTN_KHR_FP32 && p.ResultType == VKATTN_KHR_FP32 && p.scope == VKATTN_KHR_SUBGROUP &&
        p.saturatingAccumulation == VK_FALSE) {
      return true;
    }
  }
  return false;
}

// VK_NV_cooperative_matrix2 (KernelPath::kCoopmat2: shaders/attn_fwd_cm2.comp) with the features
// that kernel uses: workgroup scope, flexible dimensions, row reductions, conversions (P from an
// accumulator to an A operand), per-element operations and tensor addressing; and 16-bit storage
// (it reads fp16 tensors as halves). Builds on the KHR types, so coopmat_khr_capable too, and on a
// build whose toolchain compiled the kernel.
bool coopmat2_capable(VkInstance instance, VkPhysicalDevice pd) {
  if (!toolchain_info().nv_cooperative_matrix2 || !coopmat_khr_capable(instance, pd)) return false;
  if (!has_device_extension(pd, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME)) return false;
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV cm2{};
  cm2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV;
  VkPhysicalDeviceVulkan11Features v11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, &cm2};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &v11};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  return cm2.cooperativeMatrixWorkgroupScope == VK_TRUE && cm2.cooperativeMatrixFlexibleDimensions == VK_TRUE &&
         cm2.cooperativeMatrixReductions == VK_TRUE && cm2.cooperativeMatrixConversions == VK_TRUE &&
         cm2.cooperativeMatrixPerElementOperations == VK_TRUE && cm2.cooperativeMatrixTensorAddressing == VK_TRUE &&
         v11.storageBuffer16BitAccess == VK_TRUE;
}

// The workgroup-scope shapes attn_fwd_cm2.comp can use (DeviceInfo::coopmat2_shapes): entries of
// vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV with fp16 A and B, fp32 C and
// result, no saturation, workgroup scope, joined with an fp16-accumulator entry of the same
// workgroup size (each granularity the larger of the two), within the largest workgroup. Empty
// where the device lists none.
void query_coopmat2_shapes(VkInstance instance, VkPhysicalDevice pd, DeviceInfo& info) {
  auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV"));
  if (get == nullptr) return;
  VkPhysicalDeviceCooperativeMatrix2PropertiesNV limits{};
  limits.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_PROPERTIES_NV;
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &limits};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  info.coopmat2_max_dimension = limits.cooperativeMatrixFlexibleDimensionsMaxDimension;
  std::uint32_t n = 0;
  if (get(pd, &n, nullptr) != VK_SUCCESS) return;
  VkCooperativeMatrixFlexibleDimensionsPropertiesNV blank{};
  blank.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV;
  std::vector<VkCooperativeMatrixFlexibleDimensionsPropertiesNV> props(n, blank);
  if (get(pd, &n, props.data()) != VK_SUCCESS) return;
  const auto is = [](auto v, auto want) { return static_cast<std::uint32_t>(v) == static_cast<std::uint32_t>(want); };
  const std::uint32_t workgroup_scope = 2;  // VK_SCOPE_WORKGROUP_KHR
  const auto find = [&](std::uint32_t invocations, bool fp32_acc) -> const VkCooperativeMatrixFlexibleDimensionsPropertiesNV* {
    for (const auto& p : props) {
      const auto acc = fp32_acc ? VKATTN_KHR_FP32 : VKATTN_KHR_FP16;
      if (is(p.AType, VKATTN_KHR_FP16) && is(p.BType, VKATTN_KHR_FP16) && is(p.CType, acc) && is(p.ResultType, acc) &&
          p.saturatingAccumulation == VK_FALSE && is(p.scope, workgroup_scope) &&
          p.workgroupInvocations == invocations) {
        return &p;
      }
    }
    return nullptr;
  };
  std::vector<DeviceInfo::Coopmat2Shape> shapes;
  for (const auto& p : props) {
    const auto* f32 = find(p.workgroupInvocations, true);
    const auto* f16 = find(p.workgroupInvocations, false);
    if (f32 != &p || f16 == nullptr || p.workgroupInvocations == 0 ||
        p.workgroupInvocations > limits.cooperativeMatrixWorkgroupScopeMaxWorkgroupSize) {
      continue;
    }
    shapes.push_back({p.workgroupInvocations, std::max(f32->MGranularity, f16->MGranularity),
                      std::max(f32->NGranularity, f16->NGranularity), f32->KGranularity});
  }
  std::sort(shapes.begin(), shapes.end(), [](const auto& a, const auto& b) { return a.invocations < b.invocations; });
  for (std::size_t i = 0; i < shapes.size() && i < info.coopmat2_shapes.size(); ++i) info.coopmat2_shapes[i] = shapes[i];
}

// Multiprocessors of the device where an extension reports them (0: unknown). Property structs
// of a supported extension may be chained without enabling it.
std::uint32_t compute_units(VkPhysicalDevice pd) {
  if (has_device_extension(pd, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &sm};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    return sm.shaderSMCount;
  }
  if (has_device_extension(pd, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderCorePropertiesAMD core{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &core};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    return core.shaderEngineCount * core.shaderArraysPerEngineCount * core.computeUnitsPerShaderArray;
  }
  return 0;
}

// Fills DeviceInfo and memory properties; resolves extension entry points.
// `coopmat_usable`: VK_NV_cooperative_matrix is enabled and coopmat_capable() holds;
// `coopmat_khr_usable`: VK_KHR_cooperative_matrix is enabled and coopmat_khr_capable() holds;
// `coopmat2_usable`: VK_NV_cooperative_matrix2 is enabled and coopmat2_capable() holds.
// `executable_info_enabled`: VK_KHR_pipeline_executable_properties and its feature are enabled.
void query_device(Device& s, const DeviceRequest& request, bool push_descriptor_enabled, bool debug_utils_enabled,
                  bool coopmat_usable, bool coopmat_khr_usable, bool coopmat2_usable, bool executable_info_enabled) {
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceMaintenance4Properties m4{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES, &sg};
  VkPhysicalDeviceVulkan11Properties v11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES, &m4};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, &v11};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &driver};
  vkGetPhysicalDeviceProperties2(s.physical_device, &p2);
  const VkPhysicalDeviceProperties& p = p2.properties;
  DeviceInfo& i = s.info;
  i.name = p.deviceName;
  i.vendor_id = p.vendorID;
  i.device_id = p.deviceID;
  i.driver_version = p.driverVersion;
  i.api_version = p.apiVersion;
  i.type = p.deviceType;
  i.driver_id = driver.driverID;
  // gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, shared by every loop of a shader invocation.
  i.max_loop_iterations = driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE ? 65535u : 0u;
  std::memcpy(i.pipeline_cache_uuid, p.pipelineCacheUUID, VK_UUID_SIZE);
  i.max_shared_memory = p.limits.maxComputeSharedMemorySize;
  i.max_workgroup_invocations =
      std::min(p.limits.maxComputeWorkGroupInvocations, p.limits.maxComputeWorkGroupSize[0]);
  for (int k = 0; k < 3; ++k) i.max_workgroup_count[k] = p.limits.maxComputeWorkGroupCount[k];
  i.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  i.max_buffer_size = m4.maxBufferSize;
  i.max_memory_allocation_size = v11.maxMemoryAllocationSize;
  i.min_storage_buffer_offset_alignment = p.limits.minStorageBufferOffsetAlignment;
  i.timestamp_period_ns = p.limits.timestampPeriod;
  i.subgroup_size = sg.subgroupSize;
  i.compute_units = compute_units(s.physical_device);
  i.coopmat = coopmat_usable;
  i.coopmat_khr = coopmat_khr_usable;
  if (coopmat2_usable) query_coopmat2_shapes(s.instance, s.physical_device, i);
  i.coopmat2 = coopmat2_usable && i.coopmat2_shapes[0].invocations != 0;
  std::uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(s.physical_device, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(s.physical_device, &n, families.data());
  i.timestamps = s.queue_family < n && families[s.queue_family].timestampValidBits > 0;
  vkGetPhysicalDeviceMemoryProperties(s.physical_device, &s.memory);

  if (push_descriptor_enabled && !request.force_pooled_descriptors) {
    s.cmd_push_descriptor_set =
        reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(s.device, "vkCmdPushDescriptorSetKHR"));
  }
  i.push_descriptors = s.cmd_push_descriptor_set != nullptr;
  if (executable_info_enabled && request.capture_pipeline_statistics) {
    s.get_executable_properties = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
        vkGetDeviceProcAddr(s.device, "vkGetPipelineExecutablePropertiesKHR"));
    s.get_executable_statistics = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
        vkGetDeviceProcAddr(s.device, "vkGetPipelineExecutableStatisticsKHR"));
  }
  i.pipeline_statistics = s.get_executable_properties != nullptr && s.get_executable_statistics != nullptr;
  if (debug_utils_enabled) {
    s.set_object_name = reinterpret_cast<PFN_vkSetDebugUtilsObjectNameEXT>(
        vkGetInstanceProcAddr(s.instance, "vkSetDebugUtilsObjectNameEXT"));
  }
}

// Owned mode: instance (+ validation), physical device, device and queue.
Status create_owned(Device& s, const DeviceRequest& request) {
  const bool validation = request.validation;
  if (validation && !has_layer(kValidationLayer)) {
    return Status(ErrorCode::kUnsupported, std::string("enable_validation: layer ") + kValidationLayer +
                                               " is not installed (Debian: vulkan-validationlayers)");
  }
  const bool debug_utils = has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME) || validation;
  std::vector<const char*> extensions;
  std::vector<const char*> layers;
  if (debug_utils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (validation) {
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkattn";
  app.pEngineName = "vkattn";
  app.apiVersion = VK_API_VERSION_1_3;
  const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;
  VkDebugUtilsMessengerCreateInfoEXT messenger{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                          VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger.pfnUserCallback = on_validation_message;
  messenger.pUserData = &s;
  if (validation) {
    features.pNext = &messenger;  // also reports during vkCreateInstance/vkDestroyInstance
  }
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pNext = validation ? &features : nullptr;
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = static_cast<std::uint32_t>(layers.size());
  ici.ppEnabledLayerNames = layers.data();
  ici.enabledExtensionCount = static_cast<std::uint32_t>(extensions.size());
  ici.ppEnabledExtensionNames = extensions.data();
  VKATTN_VK(vkCreateInstance(&ici, nullptr, &s.instance), "vkCreateInstance");
  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(s.instance, "vkCreateDebugUtilsMessengerEXT"));
    if (create != nullptr)
      VKATTN_VK(create(s.instance, &messenger, nullptr, &s.messenger), "vkCreateDebugUtilsMessengerEXT");
  }

  Result<VkPhysicalDevice> pd = select_physical_device(s.instance, request.selector);
  if (!pd) return pd.status();
  s.physical_device = pd.value();
  Result<std::uint32_t> family = select_compute_queue_family(s.physical_device);
  if (!family) return family.status();
  s.queue_family = family.value();

  std::vector<const char*> device_exts;
  const bool push = has_device_extension(s.physical_device, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  if (push) device_exts.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  const bool coopmat = coopmat_capable(s.instance, s.physical_device);
  if (coopmat) device_exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  const bool coopmat_khr = coopmat_khr_capable(s.instance, s.physical_device);
  if (coopmat_khr) device_exts.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  const bool coopmat2 = coopmat2_capable(s.instance, s.physical_device);
  if (coopmat2) device_exts.push_back(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
  const bool executable_info =
      request.capture_pipeline_statistics &&
      has_device_extension(s.physical_device, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  if (executable_info) device_exts.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = s.queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  // maintenance4 (core and mandatory in Vulkan 1.3): SPIR-V 1.6 workgroup sizes from
  // specialization constants (LocalSizeId) need it.
  VkPhysicalDeviceVulkan13Features v13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceFeatures2 supported{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &v13};
  vkGetPhysicalDeviceFeatures2(s.physical_device, &supported);
  if (v13.maintenance4 != VK_TRUE) {
    return Status(ErrorCode::kUnsupported, "device does not support Vulkan 1.3 maintenance4");
  }
  VkPhysicalDeviceVulkan13Features enable13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  enable13.maintenance4 = VK_TRUE;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV enable_cm{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR enable_cm_khr{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR, nullptr, VK_FALSE, VK_FALSE};
  VkPhysicalDeviceVulkan12Features enable12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &enable13};
  VkPhysicalDeviceVulkan11Features enable11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV enable_cm2{};
  enable_cm2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV;
  void* chain = &enable13;
  if (coopmat || coopmat_khr) {
    enable12.shaderFloat16 = VK_TRUE;
    enable12.vulkanMemoryModel = VK_TRUE;
    enable12.vulkanMemoryModelDeviceScope = VK_TRUE;
    chain = &enable12;
  }
  if (coopmat) {
    enable_cm.cooperativeMatrix = VK_TRUE;
    enable_cm.pNext = chain;
    chain = &enable_cm;
  }
  if (coopmat_khr) {
    enable_cm_khr.cooperativeMatrix = VK_TRUE;
    enable_cm_khr.pNext = chain;
    chain = &enable_cm_khr;
  }
  if (coopmat2) {  // coopmat2_capable checked each feature
    enable_cm2.cooperativeMatrixWorkgroupScope = VK_TRUE;
    enable_cm2.cooperativeMatrixFlexibleDimensions = VK_TRUE;
    enable_cm2.cooperativeMatrixReductions = VK_TRUE;
    enable_cm2.cooperativeMatrixConversions = VK_TRUE;
    enable_cm2.cooperativeMatrixPerElementOperations = VK_TRUE;
    enable_cm2.cooperativeMatrixTensorAddressing = VK_TRUE;
    enable_cm2.pNext = chain;
    enable11.storageBuffer16BitAccess = VK_TRUE;
    enable11.pNext = &enable_cm2;
    chain = &enable11;
  }
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = chain;
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR enable_pe{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  if (executable_info) {
    enable_pe.pipelineExecutableInfo = VK_TRUE;
    enable_pe.pNext = const_cast<void*>(dci.pNext);
    dci.pNext = &enable_pe;
  }
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<std::uint32_t>(device_exts.size());
  dci.ppEnabledExtensionNames = device_exts.data();
  VKATTN_VK(vkCreateDevice(s.physical_device, &dci, nullptr, &s.device), "vkCreateDevice");
  vkGetDeviceQueue(s.device, s.queue_family, 0, &s.queue);
  query_device(s, request, push, debug_utils, coopmat, coopmat_khr, coopmat2, executable_info);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Device>> create_device(const DeviceRequest& request) {
  auto device = std::make_unique<Device>();
  device->log = request.log;
  device->owns_device = true;
  VKATTN_TRY(create_owned(*device, request));  // ~Device destroys what was made
  return device;
}

Status check_host_handles(const HostHandles& host) {
  if (host.instance == VK_NULL_HANDLE) return invalid("host.instance is VK_NULL_HANDLE");
  if (host.physical_device == VK_NULL_HANDLE) return invalid("host.physical_device is VK_NULL_HANDLE");
  if (host.device == VK_NULL_HANDLE) return invalid("host.device is VK_NULL_HANDLE");
  if (host.queue == VK_NULL_HANDLE) return invalid("host.queue is VK_NULL_HANDLE");
  VkPhysicalDeviceProperties props{};
  vkGetPhysicalDeviceProperties(host.physical_device, &props);
  if (props.apiVersion < VK_API_VERSION_1_3) {
    return Status(ErrorCode::kUnsupported,
                  "host.physical_device (" + std::string(props.deviceName) + ") supports Vulkan " +
                      std::to_string(VK_API_VERSION_MAJOR(props.apiVersion)) + "." +
                      std::to_string(VK_API_VERSION_MINOR(props.apiVersion)) + "; vkattn needs 1.3");
  }
  std::uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(host.physical_device, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(host.physical_device, &n, families.data());
  if (host.queue_family_index >= n || (families[host.queue_family_index].queueFlags & VK_QUEUE_COMPUTE_BIT) == 0) {
    return invalid("host.queue_family_index = " + std::to_string(host.queue_family_index) +
                   " is not a compute-capable queue family of the physical device");
  }
  return Status::ok();
}

Result<std::unique_ptr<Device>> adopt_device(const HostHandles& host, const DeviceRequest& request) {
  VKATTN_TRY(check_host_handles(host));
  auto state = std::make_unique<Device>();
  state->log = request.log;
  state->owns_device = false;
  state->instance = host.instance;
  state->physical_device = host.physical_device;
  state->device = host.device;
  state->queue = host.queue;
  state->queue_family = host.queue_family_index;
  bool push = false;
  bool coopmat = false;
  bool coopmat_khr = false;
  bool coopmat2 = false;
  bool executable_info = false;
  for (const auto& e : host.enabled_device_extensions) {
    push = push || e == VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
    coopmat = coopmat || e == VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    coopmat_khr = coopmat_khr || e == VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME;
    coopmat2 = coopmat2 || e == VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME;
    executable_info = executable_info || e == VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
  }
  query_device(*state, request, push, host.debug_utils_enabled,
               coopmat && coopmat_capable(host.instance, host.physical_device),
               coopmat_khr && coopmat_khr_capable(host.instance, host.physical_device),
               coopmat2 && coopmat_khr && coopmat2_capable(host.instance, host.physical_device), executable_info);
  return state;
}

}  // namespace vkattn
