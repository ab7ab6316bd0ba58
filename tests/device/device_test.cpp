// The device layer on its own: memory-type choice (required flags, then preferred ones) on
// synthetic memory properties, and physical-device and queue-family selection on this machine's
// Vulkan instance.
#include "device/device.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "device/device_selection.hpp"

namespace vkattn::test {
namespace {

TEST(Device, MemoryTypeTakesRequiredThenPreferredFlags) {
  Device d;
  d.memory.memoryTypeCount = 3;
  d.memory.memoryTypes[0].propertyFlags = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  d.memory.memoryTypes[1].propertyFlags = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  d.memory.memoryTypes[2].propertyFlags =
      VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  EXPECT_EQ(d.find_memory_type(0b111, host, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT), 2);  // both
  EXPECT_EQ(d.find_memory_type(0b011, host, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT), 1);  // required only
  EXPECT_EQ(d.find_memory_type(0b001, host, 0), -1);                                   // none allowed has it
  EXPECT_EQ(d.find_memory_type(0b111, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT), 0);
}

TEST(Device, LogGoesToTheCallback) {
  Device d;
  std::vector<std::string> got;
  d.log = [&](LogLevel, std::string_view m) { got.emplace_back(m); };
  d.log_message(LogLevel::kWarning, "pipeline cache file x ignored");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "pipeline cache file x ignored");
  d.name_object(VK_OBJECT_TYPE_BUFFER, 1, "unnamed without debug utils");  // no entry point: nothing happens
}

class Selection : public ::testing::Test {
 protected:
  void SetUp() override {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.apiVersion = VK_API_VERSION_1_3;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ASSERT_EQ(vkCreateInstance(&ci, nullptr, &instance_), VK_SUCCESS);
  }
  void TearDown() override {
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
  }
  VkInstance instance_ = VK_NULL_HANDLE;
};

TEST_F(Selection, ByDefaultIndexAndNameAndClearErrors) {
  Result<VkPhysicalDevice> any = select_physical_device(instance_, "");
  ASSERT_TRUE(any.is_ok()) << any.status().to_string();
  Result<VkPhysicalDevice> first = select_physical_device(instance_, "0");
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  VkPhysicalDeviceProperties props{};
  vkGetPhysicalDeviceProperties(first.value(), &props);
  std::string upper = props.deviceName;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Result<VkPhysicalDevice> by_name = select_physical_device(instance_, upper.substr(0, 4));  // case-insensitive
  ASSERT_TRUE(by_name.is_ok()) << by_name.status().to_string();
  Result<VkPhysicalDevice> far = select_physical_device(instance_, "4096");
  ASSERT_FALSE(far.is_ok());
  EXPECT_EQ(far.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(far.status().message().find("device index 4096 out of range (devices: 0: "), std::string::npos)
      << far.status().message();
  Result<VkPhysicalDevice> huge = select_physical_device(instance_, "99999999999999999999");  // past stoul
  ASSERT_FALSE(huge.is_ok());
  EXPECT_NE(huge.status().message().find("device index 99999999999999999999 out of range"), std::string::npos)
      << huge.status().message();
  Result<std::uint32_t> family = select_compute_queue_family(first.value());
  ASSERT_TRUE(family.is_ok()) << family.status().to_string();
  std::uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(first.value(), &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(first.value(), &n, families.data());
  EXPECT_NE(families[family.value()].queueFlags & VK_QUEUE_COMPUTE_BIT, 0u);
}

}  // namespace
}  // namespace vkattn::test
