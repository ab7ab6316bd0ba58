// Context creation: device selection, and adopting a host application's instance and device.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class ContextTest : public VkTest {};

TEST_F(ContextTest, OwnedContextDescribesItsDevice) {
  const DeviceInfo& i = ctx().info();
  EXPECT_TRUE(ctx().owns_device());
  EXPECT_FALSE(i.name.empty());
  EXPECT_GE(i.max_shared_memory, 16384u);
  EXPECT_NE(ctx().device(), VK_NULL_HANDLE);
}

TEST_F(ContextTest, SelectsByIndexAndByNameSubstring) {
  ContextOptions o = test_options();
  o.device = "0";
  std::unique_ptr<Context> by_index = make_context(o);
  ASSERT_NE(by_index, nullptr);
  const std::string name = by_index->info().name;
  by_index.reset();
  o.device = name.substr(0, 4);                                                                 // e.g. "llvm"
  for (char& c : o.device) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));  // case-insensitive
  std::unique_ptr<Context> by_name = make_context(o);
  ASSERT_NE(by_name, nullptr);
  EXPECT_EQ(by_name->info().name, name);
}

TEST_F(ContextTest, UnknownDeviceIsAClearError) {
  ContextOptions o = test_options();
  o.device = "no-such-gpu";
  Result<std::unique_ptr<Context>> c = Context::create(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(c.status().message().find("no-such-gpu"), std::string::npos) << c.status().message();
  o.device = "99";
  c = Context::create(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("index 99"), std::string::npos) << c.status().message();
}

TEST_F(ContextTest, EnvironmentVariableSelectsTheDevice) {
  ::setenv("VKATTN_DEVICE", "no-such-gpu-from-env", 1);
  Result<std::unique_ptr<Context>> c = Context::create(test_options());
  ::unsetenv("VKATTN_DEVICE");
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("no-such-gpu-from-env"), std::string::npos);
}

// A host application: its own instance (with validation), device and command buffer.
struct Host {
  LogCapture* log = nullptr;
  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  std::uint32_t family = 0;
  bool push_descriptors = false;

  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    static_cast<Host*>(user)->log->add_validation_message(data->pMessage);
    return VK_FALSE;
  }

  void create() {
    const char* layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char* exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.apiVersion = VK_API_VERSION_1_3;
    VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mi.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
    mi.pfnUserCallback = on_message;
    mi.pUserData = this;
    const VkValidationFeatureEnableEXT sync[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT, &mi};
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = sync;
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ici.pNext = &features;
    ici.pApplicationInfo = &app;
    ici.enabledLayerCount = 1;
    ici.ppEnabledLayerNames = layers;
    ici.enabledExtensionCount = 2;
    ici.ppEnabledExtensionNames = exts;
    ASSERT_EQ(vkCreateInstance(&ici, nullptr, &instance), VK_SUCCESS);
    auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
    ASSERT_EQ(create_messenger(instance, &mi, nullptr, &messenger), VK_SUCCESS);
    std::uint32_t n = 1;
    ASSERT_GE(vkEnumeratePhysicalDevices(instance, &n, &physical), 0);
    std::uint32_t exts_n = 0;
    vkEnumerateDeviceExtensionProperties(physical, nullptr, &exts_n, nullptr);
    std::vector<VkExtensionProperties> dev_exts(exts_n);
    vkEnumerateDeviceExtensionProperties(physical, nullptr, &exts_n, dev_exts.data());
    for (const auto& e : dev_exts)
      push_descriptors |= std::strcmp(e.extensionName, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) == 0;
    const char* enabled[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
    const float prio = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    VkPhysicalDeviceVulkan13Features v13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
    v13.maintenance4 = VK_TRUE;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &v13;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.enabledExtensionCount = push_descriptors ? 1u : 0u;
    dci.ppEnabledExtensionNames = enabled;
    ASSERT_EQ(vkCreateDevice(physical, &dci, nullptr, &device), VK_SUCCESS);
    vkGetDeviceQueue(device, family, 0, &queue);
  }

  HostHandles handles() const {
    HostHandles h;
    h.instance = instance;
    h.physical_device = physical;
    h.device = device;
    h.queue = queue;
    h.queue_family_index = family;
    if (push_descriptors) h.enabled_device_extensions = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
    h.debug_utils_enabled = true;
    return h;
  }

  void destroy() {
    if (device != VK_NULL_HANDLE) vkDestroyDevice(device, nullptr);  // the layer reports leaked children here
    auto destroy_messenger = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (messenger != VK_NULL_HANDLE) destroy_messenger(instance, messenger, nullptr);
    if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
  }
};

TEST(AdoptTest, RecordsIntoTheHostsCommandBufferAndLeavesItsHandlesAlive) {
  LogCapture log;
  Host host;
  host.log = &log;
  ASSERT_NO_FATAL_FAILURE(host.create());
  {
    ContextOptions o;
    o.log = log.callback();
    o.pipeline_cache.persist = false;
    Result<std::unique_ptr<Context>> adopted = Context::adopt(host.handles(), o);
    ASSERT_TRUE(adopted.is_ok()) << adopted.status().to_string();
    Context& ctx = *adopted.value();
    EXPECT_FALSE(ctx.owns_device());
    EXPECT_EQ(ctx.device(), host.device);

    std::mt19937_64 rng(test_seed());
    CaseShape shape{2, 2, 2, 33, 47, 32, DType::kF16, kCausalBR, Layout::kBHSD, true};
    Result<AttentionCase> c = AttentionCase::create(ctx, shape, rng);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    Result<ForwardPlan> plan = ForwardPlan::create(ctx, c->desc());
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();

    // The host's own pool, command buffer, barriers, submission and fence.
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.queueFamilyIndex = host.family;
    VkCommandPool pool = VK_NULL_HANDLE;
    ASSERT_EQ(vkCreateCommandPool(host.device, &pci, nullptr, &pool), VK_SUCCESS);
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    ASSERT_EQ(vkAllocateCommandBuffers(host.device, &ai, &cmd), VK_SUCCESS);
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    ASSERT_EQ(vkBeginCommandBuffer(cmd, &bi), VK_SUCCESS);
    VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                           VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &before, 0,
                         nullptr, 0, nullptr);
    ASSERT_TRUE(plan->record(cmd, c->tensors()).is_ok());
    VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                          VK_ACCESS_TRANSFER_READ_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &after, 0,
                         nullptr, 0, nullptr);
    ASSERT_EQ(vkEndCommandBuffer(cmd), VK_SUCCESS);
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence = VK_NULL_HANDLE;
    ASSERT_EQ(vkCreateFence(host.device, &fci, nullptr, &fence), VK_SUCCESS);
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    ASSERT_EQ(vkQueueSubmit(host.queue, 1, &si, fence), VK_SUCCESS);
    ASSERT_EQ(vkWaitForFences(host.device, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    vkDestroyFence(host.device, fence, nullptr);
    vkDestroyCommandPool(host.device, pool, nullptr);

    const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
    expect_close(c->download_o(), ref.o, output_tolerance(shape.dtype), "O");
    expect_close(c->download_lse(), ref.lse, lse_tolerance(shape.dtype), "LSE");
  }  // plan, tensors, then the context: vkattn's objects are gone, the host's handles remain
  // The host's device still works after the context is gone.
  EXPECT_EQ(vkDeviceWaitIdle(host.device), VK_SUCCESS);
  host.destroy();
  expect_no_validation_messages(log);
}

TEST(AdoptTest, RejectsMissingHandles) {
  HostHandles h;
  Result<std::unique_ptr<Context>> c = Context::adopt(h);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("host.instance"), std::string::npos);
}

}  // namespace
}  // namespace vkattn::test
