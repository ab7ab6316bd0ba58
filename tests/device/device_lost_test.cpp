// VK_ERROR_DEVICE_LOST comes back as kDeviceLost, never an abort, and the context then refuses
// further work. Lavapipe cannot lose its device, so this test provokes the error at the API
// boundary: it defines vkQueueSubmit and vkWaitForFences itself, which the linker binds the
// engine's calls to (the executable's definition wins over libvulkan's). Each shim forwards to
// the loader's function (dlsym RTLD_NEXT) and, when armed, returns VK_ERROR_DEVICE_LOST — after
// the real wait, so the validation layer sees a well-behaved application.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <vulkan/vulkan_core.h>

#include <atomic>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace {

std::atomic<bool> g_lose_at_submit{false};
std::atomic<bool> g_lose_at_wait{false};
std::atomic<int> g_real_submits{0};

template <typename Fn>
Fn next_symbol(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) std::abort();
  return reinterpret_cast<Fn>(f);
}

}  // namespace

extern "C" VKAPI_ATTR VkResult VKAPI_CALL vkQueueSubmit(VkQueue queue, uint32_t count, const VkSubmitInfo* submits,
                                                        VkFence fence) {
  static const auto real = next_symbol<PFN_vkQueueSubmit>("vkQueueSubmit");
  if (g_lose_at_submit.load()) return VK_ERROR_DEVICE_LOST;
  ++g_real_submits;
  return real(queue, count, submits, fence);
}

extern "C" VKAPI_ATTR VkResult VKAPI_CALL vkWaitForFences(VkDevice device, uint32_t count, const VkFence* fences,
                                                          VkBool32 wait_all, uint64_t timeout) {
  static const auto real = next_symbol<PFN_vkWaitForFences>("vkWaitForFences");
  const VkResult r = real(device, count, fences, wait_all, timeout);
  return g_lose_at_wait.load() ? VK_ERROR_DEVICE_LOST : r;
}

namespace vkattn::test {
namespace {

class DeviceLost : public VkTest {
 protected:
  void TearDown() override {
    g_lose_at_submit = false;
    g_lose_at_wait = false;
    VkTest::TearDown();
  }
  // A small forward's inputs and outputs, uploaded while nothing is armed.
  AttentionCase make_case(Context& c) {
    std::mt19937_64 rng(test_seed());
    Result<AttentionCase> a =
        AttentionCase::create(c, {1, 2, 2, 24, 40, 16, DType::kF32, kCausalBR, Layout::kBHSD, true}, rng);
    EXPECT_TRUE(a.is_ok()) << a.status().to_string();
    return std::move(a).value();
  }
  void expect_lost(const Status& s, const char* call) {
    EXPECT_EQ(s.code(), ErrorCode::kDeviceLost) << s.to_string();
    EXPECT_NE(s.message().find(call), std::string::npos) << s.message();
  }
};

TEST_F(DeviceLost, AtWaitIsAnErrorAndTheContextRefusesLaterWork) {
  AttentionCase a = make_case(ctx());
  run_and_compare(ctx(), a);
  EXPECT_FALSE(ctx().device_lost());
  g_lose_at_wait = true;
  expect_lost(attention_forward(ctx(), a.tensors()), "vkWaitForFences");
  EXPECT_TRUE(ctx().device_lost());
  g_lose_at_wait = false;
  const int submits = g_real_submits.load();
  expect_lost(attention_forward(ctx(), a.tensors()), "lost by an earlier submission");
  EXPECT_EQ(g_real_submits.load(), submits) << "a lost context still submitted";
  bool logged = false;
  for (const std::string& w : log_->warnings()) logged = logged || w.find("VK_ERROR_DEVICE_LOST") != std::string::npos;
  EXPECT_TRUE(logged) << "the loss was not logged";
}

TEST_F(DeviceLost, AtSubmitIsAnErrorAndOtherContextsAreUnaffected) {
  std::unique_ptr<Context> other = make_context(test_options());
  ASSERT_NE(other, nullptr);
  {
    AttentionCase a = make_case(ctx());
    g_lose_at_submit = true;
    expect_lost(attention_forward(ctx(), a.tensors()), "vkQueueSubmit");
    g_lose_at_submit = false;
    EXPECT_TRUE(ctx().device_lost());
  }
  EXPECT_FALSE(other->device_lost());
  AttentionCase b = make_case(*other);  // a fresh context on the same device works
  run_and_compare(*other, b);
}

}  // namespace
}  // namespace vkattn::test
