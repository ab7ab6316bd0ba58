#include "vk_test.hpp"

#include "planning/kernel_path.hpp"

#include <vulkan/vulkan_core.h>

#include <cstdlib>
#include <string>

namespace vkattn::test {
namespace {

// Holds one bare VkInstance for the whole test process, so the Vulkan loader keeps the ICDs
// loaded between tests. Without it every Context loads and unloads the driver; NVIDIA's driver
// (580.x, measured on the H100) fails vkCreateInstance with VK_ERROR_INCOMPATIBLE_DRIVER after
// 29 such cycles in one process, whatever vkattn does (bench/NOTES.md).
class IcdKeepAlive : public ::testing::Environment {
 public:
  void SetUp() override {
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    if (vkCreateInstance(&ci, nullptr, &instance_) != VK_SUCCESS) instance_ = VK_NULL_HANDLE;
  }
  void TearDown() override {
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
    instance_ = VK_NULL_HANDLE;
  }

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
};

[[maybe_unused]] ::testing::Environment* const kIcdKeepAlive = ::testing::AddGlobalTestEnvironment(new IcdKeepAlive);

}  // namespace

LogCallback LogCapture::callback() {
  return [this](LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (message.rfind("validation:", 0) == 0) {
      validation_.emplace_back(message);
    } else if (level != LogLevel::kInfo) {
      warnings_.emplace_back(message);
    }
  };
}

std::vector<std::string> LogCapture::validation_messages() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return validation_;
}

std::vector<std::string> LogCapture::warnings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return warnings_;
}

void LogCapture::add_validation_message(std::string message) {
  std::lock_guard<std::mutex> lock(mutex_);
  validation_.push_back("validation: " + message);
}

bool auto_uses_coopmat(const Context& ctx) {
  const KernelPath path = ctx.options().overrides.path;
  if (path == KernelPath::kCoopmatKhr) return ctx.info().coopmat_khr;
  return ctx.info().coopmat && path != KernelPath::kScalar;
}

std::string coopmat_suffix(const Context& ctx) {
  const PlanOverrides& o = ctx.options().overrides;
  const bool khr =
      o.path == KernelPath::kCoopmatKhr || (o.path == KernelPath::kAuto && (kCoopmatKhrByDefault || o.cm_khr == 1));
  return khr && ctx.info().coopmat_khr ? "_coopmat_khr" : "_coopmat";
}

bool auto_uses_coopmat2(const Context& ctx) {
  const PlanOverrides& o = ctx.options().overrides;
  return ctx.info().coopmat2 && o.path == KernelPath::kAuto && (kCoopmat2ByDefault || o.cm2 == 1);
}

std::string f16_tensor_core_suffix(const Context& ctx) {
  return auto_uses_coopmat2(ctx) ? "_coopmat2" : coopmat_suffix(ctx);
}

void expect_no_validation_messages(const LogCapture& log) {
  for (const std::string& m : log.validation_messages()) ADD_FAILURE() << m;
}

ContextOptions VkTest::test_options() const {
  ContextOptions o;
  o.enable_validation = true;
  o.log = log_->callback();
  o.pipeline_cache.persist = false;
  return o;
}

std::unique_ptr<Context> VkTest::make_context(ContextOptions options) {
  Result<std::unique_ptr<Context>> c = Context::create(options);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  if (!c) return nullptr;
  return std::move(c).value();
}

void VkTest::SetUp() {
  ctx_ = make_context(test_options());
  ASSERT_NE(ctx_, nullptr);
}

void VkTest::reopen_context() {
  ctx_.reset();
  ctx_ = make_context(test_options());
  ASSERT_NE(ctx_, nullptr);
}

void VkTest::expect_environment_refused(const char* var, std::initializer_list<const char*> values,
                                        const std::string& allowed) const {
  for (const char* value : values) {
    ::setenv(var, value, 1);  // read when a context is created
    Result<std::unique_ptr<Context>> c = create_context();
    ASSERT_FALSE(c.is_ok()) << var << " = " << value;
    EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
    const std::string expected = std::string(var) + " = \"" + value + "\" is not " + allowed;
    EXPECT_NE(c.status().message().find(expected), std::string::npos) << c.status().message();
  }
  ::unsetenv(var);
}

void DescriptorPathTest::SetUp() {
  ContextOptions o = test_options();
  o.force_pooled_descriptors = GetParam();
  ctx_ = make_context(o);
  ASSERT_NE(ctx_, nullptr);
}

void VkTest::TearDown() {
  ctx_.reset();
  expect_no_validation_messages(*log_);
}

}  // namespace vkattn::test
