#include "vkattn/context.hpp"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

#include "context_state.hpp"
#include "coopmat_layout.hpp"
#include "device_selection.hpp"
#include "pipeline_registry.hpp"
#include "vk_util.hpp"

namespace vkattn {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_is_one(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

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
  const auto* state = static_cast<const ContextState*>(user);
  const LogLevel level =
      severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT ? LogLevel::kError : LogLevel::kInfo;
  state->log_message(level, std::string("validation: ") + (data->pMessage ? data->pMessage : ""));
  return VK_FALSE;
}

// What the coopmat forward needs besides the extension being enabled: a subgroup-scope
// fp16 x fp16 -> fp32 16x16x16 shape, shaderFloat16, the Vulkan memory model, and subgroups of
// exactly 32 lanes (no other size allowed) with shuffles and votes in compute.
bool coopmat_capable(VkInstance instance, VkPhysicalDevice pd) {
  if (!has_device_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkan12Features v12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &cm};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &v12};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  // GL_NV_cooperative_matrix needs GL_KHR_memory_scope_semantics, so the SPIR-V declares the
  // Vulkan memory model (its atomics name QueueFamily scope). Device scope is enabled with it;
  // the H100 that ran the suite has both.
  if (cm.cooperativeMatrix != VK_TRUE || v12.shaderFloat16 != VK_TRUE || v12.vulkanMemoryModel != VK_TRUE ||
      v12.vulkanMemoryModelDeviceScope != VK_TRUE) {
    return false;
  }
  VkPhysicalDeviceSubgroupSizeControlProperties size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, &size_control};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &sg};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  const VkSubgroupFeatureFlags ops =
      VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT | VK_SUBGROUP_FEATURE_VOTE_BIT;
  if (sg.subgroupSize != 32 || size_control.minSubgroupSize != 32 || size_control.maxSubgroupSize != 32 ||
      (sg.supportedOperations & ops) != ops || (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) == 0) {
    return false;
  }
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

// Fills DeviceInfo and memory properties; resolves extension entry points.
// `coopmat_usable`: VK_NV_cooperative_matrix is enabled and coopmat_capable() holds.
// `executable_info_enabled`: VK_KHR_pipeline_executable_properties and its feature are enabled.
void query_device(ContextState& s, bool push_descriptor_enabled, bool debug_utils_enabled, bool coopmat_usable,
                  bool executable_info_enabled) {
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
  i.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  for (int k = 0; k < 3; ++k) i.max_workgroup_count[k] = p.limits.maxComputeWorkGroupCount[k];
  i.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  i.max_buffer_size = m4.maxBufferSize;
  i.max_memory_allocation_size = v11.maxMemoryAllocationSize;
  i.min_storage_buffer_offset_alignment = p.limits.minStorageBufferOffsetAlignment;
  i.timestamp_period_ns = p.limits.timestampPeriod;
  i.subgroup_size = sg.subgroupSize;
  i.coopmat = coopmat_usable;
  std::uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(s.physical_device, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(s.physical_device, &n, families.data());
  i.timestamps = s.queue_family < n && families[s.queue_family].timestampValidBits > 0;
  vkGetPhysicalDeviceMemoryProperties(s.physical_device, &s.memory);

  if (push_descriptor_enabled && !s.options.force_pooled_descriptors) {
    s.cmd_push_descriptor_set =
        reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(s.device, "vkCmdPushDescriptorSetKHR"));
  }
  i.push_descriptors = s.cmd_push_descriptor_set != nullptr;
  if (executable_info_enabled && s.options.capture_pipeline_statistics) {
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

// Command pool, fence and pipeline registry: the parts both modes create.
Status finish_setup(ContextState& s) {
  VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT | VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pool.queueFamilyIndex = s.queue_family;
  VKATTN_VK(vkCreateCommandPool(s.device, &pool, nullptr, &s.command_pool), "vkCreateCommandPool");
  VkFenceCreateInfo fence{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VKATTN_VK(vkCreateFence(s.device, &fence, nullptr, &s.fence), "vkCreateFence");
  Result<std::unique_ptr<PipelineRegistry>> reg = PipelineRegistry::create(s);
  if (!reg) return reg.status();
  s.pipelines = std::move(reg).value();
  return Status::ok();
}

void destroy_state(ContextState& s) {
  // An owned device may still run work of vkattn's own; an adopted one belongs to the host, whose
  // queues vkattn must not synchronize (vkDeviceWaitIdle would need all of them): submit_and_wait
  // has waited for everything vkattn submitted, and the host's recordings of plans ended before
  // those plans were destroyed (context.hpp).
  if (s.owns_device && s.device != VK_NULL_HANDLE) vkDeviceWaitIdle(s.device);
  s.pipelines.reset();
  if (s.fence != VK_NULL_HANDLE) vkDestroyFence(s.device, s.fence, nullptr);
  if (s.command_pool != VK_NULL_HANDLE) vkDestroyCommandPool(s.device, s.command_pool, nullptr);
  if (!s.owns_device) return;
  if (s.device != VK_NULL_HANDLE) vkDestroyDevice(s.device, nullptr);
  if (s.messenger != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(s.instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(s.instance, s.messenger, nullptr);
  }
  if (s.instance != VK_NULL_HANDLE) vkDestroyInstance(s.instance, nullptr);
}

// Owned mode: instance (+ validation), physical device, device and queue.
Status create_owned(ContextState& s) {
  const bool validation = s.options.enable_validation || env_is_one("VKATTN_VALIDATION");
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

  std::string selector = s.options.device;
  if (selector.empty()) {
    if (const char* env = std::getenv("VKATTN_DEVICE")) selector = env;
  }
  Result<VkPhysicalDevice> pd = select_physical_device(s.instance, selector);
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
  const bool executable_info =
      s.options.capture_pipeline_statistics &&
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
  VkPhysicalDeviceVulkan12Features enable12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &enable13};
  if (coopmat) {
    enable_cm.cooperativeMatrix = VK_TRUE;
    enable_cm.pNext = &enable12;
    enable12.shaderFloat16 = VK_TRUE;
    enable12.vulkanMemoryModel = VK_TRUE;
    enable12.vulkanMemoryModelDeviceScope = VK_TRUE;
  }
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = coopmat ? static_cast<void*>(&enable_cm) : static_cast<void*>(&enable13);
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
  query_device(s, push, debug_utils, coopmat, executable_info);
  return finish_setup(s);
}

}  // namespace

void ContextState::log_message(LogLevel level, const std::string& message) const {
  if (log) {
    log(level, message);
    return;
  }
  const char* tag = level == LogLevel::kError ? "error" : level == LogLevel::kWarning ? "warning" : "info";
  std::cerr << "vkattn " << tag << ": " << message << "\n";
}

void ContextState::name_object(VkObjectType type, std::uint64_t handle, const std::string& name) const {
  if (set_object_name == nullptr) return;
  VkDebugUtilsObjectNameInfoEXT name_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
  name_info.objectType = type;
  name_info.objectHandle = handle;
  name_info.pObjectName = name.c_str();
  set_object_name(device, &name_info);
}

int ContextState::find_memory_type(std::uint32_t type_bits, VkMemoryPropertyFlags required,
                                   VkMemoryPropertyFlags preferred) const {
  int fallback = -1;
  for (std::uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    if ((type_bits & (1u << i)) == 0) continue;
    const VkMemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return static_cast<int>(i);
    if (fallback < 0) fallback = static_cast<int>(i);
  }
  return fallback;
}

Context::Context(std::unique_ptr<ContextState> state) : state_(std::move(state)) {}

namespace {

// DeviceInfo::coopmat also needs the accumulator layout the kernels index by (coopmat_layout.hpp):
// a device whose layout differs keeps coopmat off, with a warning saying where it differs. A
// Vulkan failure of the probe (a lost device included) fails the creation.
Result<std::unique_ptr<Context>> with_checked_coopmat(std::unique_ptr<Context> ctx) {
  ContextState& s = ctx->state();
  if (!s.info.coopmat) return ctx;
  Result<std::string> diff = probe_coopmat_layout(*ctx);
  if (!diff) {
    return Status(diff.status().code(), "the coopmat layout probe failed: " + diff.status().message(),
                  diff.status().vk_result());
  }
  if (diff.value().empty()) return ctx;
  s.info.coopmat = false;
  ctx->log(LogLevel::kWarning,
           "VK_NV_cooperative_matrix not used: its accumulator layout is not the one the "
           "kernels index by (" +
               diff.value() + ")");
  return ctx;
}

}  // namespace

Result<std::unique_ptr<Context>> Context::create(const ContextOptions& options) {
  auto state = std::make_unique<ContextState>();
  state->options = options;
  state->log = options.log;
  state->owns_device = true;
  Status s = create_owned(*state);
  if (!s) {
    destroy_state(*state);
    return s;
  }
  return with_checked_coopmat(std::unique_ptr<Context>(new Context(std::move(state))));
}

Result<std::unique_ptr<Context>> Context::adopt(const HostHandles& host, const ContextOptions& options) {
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
  auto state = std::make_unique<ContextState>();
  state->options = options;
  state->log = options.log;
  state->owns_device = false;
  state->instance = host.instance;
  state->physical_device = host.physical_device;
  state->device = host.device;
  state->queue = host.queue;
  state->queue_family = host.queue_family_index;
  bool push = false;
  bool coopmat = false;
  bool executable_info = false;
  for (const auto& e : host.enabled_device_extensions) {
    push = push || e == VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
    coopmat = coopmat || e == VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    executable_info = executable_info || e == VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
  }
  query_device(*state, push, host.debug_utils_enabled, coopmat && coopmat_capable(host.instance, host.physical_device),
               executable_info);
  Status s = finish_setup(*state);
  if (!s) {
    destroy_state(*state);
    return s;
  }
  return with_checked_coopmat(std::unique_ptr<Context>(new Context(std::move(state))));
}

Context::~Context() {
  if (!state_) return;
  if (state_->live_children.load() != 0) {
    state_->log_message(LogLevel::kError, std::to_string(state_->live_children.load()) +
                                              " Tensor/plan objects outlive their Context (destroy them first)");
  }
  if (state_->pipelines && state_->pipelines->needs_save() && !state_->device_lost.load()) {
    Status s = state_->pipelines->save();
    if (!s) state_->log_message(LogLevel::kWarning, "pipeline cache not saved: " + s.message());
  }
  destroy_state(*state_);
}

const DeviceInfo& Context::info() const { return state_->info; }
bool Context::owns_device() const { return state_->owns_device; }
VkInstance Context::instance() const { return state_->instance; }
VkPhysicalDevice Context::physical_device() const { return state_->physical_device; }
VkDevice Context::device() const { return state_->device; }
VkQueue Context::queue() const { return state_->queue; }
std::uint32_t Context::queue_family_index() const { return state_->queue_family; }
PipelineStats Context::pipeline_stats() const { return state_->pipelines->stats(); }
std::vector<PipelineReport> Context::pipeline_reports() const { return state_->pipelines->reports(); }
const CacheFileStatus& Context::pipeline_cache_file() const { return state_->pipelines->file_status(); }
Status Context::save_pipeline_cache() { return state_->pipelines->save(); }
void Context::log(LogLevel level, const std::string& message) const { state_->log_message(level, message); }

bool Context::device_lost() const { return state_->device_lost.load(); }

Status Context::submit_and_wait(const std::function<void(VkCommandBuffer)>& record) {
  ContextState& s = *state_;
  std::lock_guard<std::mutex> lock(s.submit_mutex);
  if (s.device_lost.load()) {
    return Status(ErrorCode::kDeviceLost, "the device was lost by an earlier submission; recreate the context",
                  VK_ERROR_DEVICE_LOST);
  }
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = s.command_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VKATTN_VK(vkAllocateCommandBuffers(s.device, &ai, &cmd), "vkAllocateCommandBuffers");
  struct FreeCmd {
    ContextState& s;
    VkCommandBuffer cmd;
    // After a loss the buffer may still be pending; destroying the pool frees it later.
    ~FreeCmd() {
      if (!s.device_lost.load()) vkFreeCommandBuffers(s.device, s.command_pool, 1, &cmd);
    }
  } free_cmd{s, cmd};
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VKATTN_VK(vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
  record(cmd);
  VKATTN_VK(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  VKATTN_VK(vkResetFences(s.device, 1, &s.fence), "vkResetFences");
  VkResult r = vkQueueSubmit(s.queue, 1, &si, s.fence);
  const char* what = "vkQueueSubmit";
  if (r == VK_SUCCESS) {
    r = vkWaitForFences(s.device, 1, &s.fence, VK_TRUE, UINT64_MAX);
    what = "vkWaitForFences";
  }
  if (r == VK_ERROR_DEVICE_LOST) {
    s.device_lost.store(true);
    log(LogLevel::kError, std::string(what) + " returned VK_ERROR_DEVICE_LOST; the context refuses further work");
  }
  VKATTN_VK(r, what);
  return Status::ok();
}

}  // namespace vkattn
