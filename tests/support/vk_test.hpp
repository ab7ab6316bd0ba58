// Test fixture: every context runs under VK_LAYER_KHRONOS_validation (synchronization validation
// on) and any validation message fails the test.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vkattn/vkattn.hpp"

namespace vkattn::test {

// Collects what contexts log, split into validation-layer messages and engine warnings.
class LogCapture {
 public:
  LogCallback callback();
  std::vector<std::string> validation_messages() const;
  std::vector<std::string> warnings() const;
  // Called by hosts that install their own debug messenger (adopt tests).
  void add_validation_message(std::string message);

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> validation_;
  std::vector<std::string> warnings_;
};

class VkTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Options every test context uses: validation on, log captured, pipeline cache not persisted
  // (tests of persistence set a path of their own).
  ContextOptions test_options() const;
  std::unique_ptr<Context> make_context(ContextOptions options);

  Context& ctx() { return *ctx_; }
  // Each malformed value of the environment variable `var` makes Context::create fail with
  // kInvalidArgument naming the variable, the value and `allowed`; `var` is unset afterwards.
  void expect_environment_refused(const char* var, std::initializer_list<const char*> values,
                                  const std::string& allowed) const;
  // Replaces ctx() by a new context: it reads the environment (VKATTN_PATH, tile overrides) as
  // it is now. Contexts read it once, when created.
  void reopen_context();
  // Context::create with test_options() under the environment as it is now.
  Result<std::unique_ptr<Context>> create_context() const { return Context::create(test_options()); }
  std::unique_ptr<Context> ctx_;
  std::shared_ptr<LogCapture> log_ = std::make_shared<LogCapture>();
};

// A VkTest whose context binds with pooled descriptor sets (parameter true) or with push
// descriptors where the device has them (false).
class DescriptorPathTest : public VkTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override;
};

// Whether KernelPath::kAuto takes the coopmat kernel (for problems it can run) on `ctx`: the
// device has it and the context's path override (env VKATTN_PATH when it was created) does not
// say scalar (the suite runs once each way).
bool auto_uses_coopmat(const Context& ctx);
// The variant-name suffix of the coopmat kernels `auto_uses_coopmat` means: "_coopmat_khr" where
// auto takes the KHR build (kCoopmatKhrByDefault, or VKATTN_CM_KHR = 1) or VKATTN_PATH =
// coopmat_khr asks for it, and the device has it; else "_coopmat".
std::string coopmat_suffix(const Context& ctx);
// Whether kAuto takes the cooperative-matrix-2 kernels for fp16 problems they can run (the GPU
// suite's coopmat2 pass: VKATTN_CM2 = 1 on a device with DeviceInfo::coopmat2), and the suffix
// such problems' variant names then end in: "_coopmat2", else coopmat_suffix.
bool auto_uses_coopmat2(const Context& ctx);
std::string f16_tensor_core_suffix(const Context& ctx);

// Fails the current test with every message `log` holds from the validation layer.
void expect_no_validation_messages(const LogCapture& log);

}  // namespace vkattn::test
