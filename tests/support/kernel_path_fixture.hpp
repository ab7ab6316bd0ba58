// The fixture of the kernel-path tests (planning/kernel_path_test.cpp, fwd_tiles_test.cpp,
// pipelines/coopmat_layout_test.cpp): one context, VKATTN_PATH restored and the coopmat tile
// overrides cleared around each test, and the checks they share.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

#include "support/vk_test.hpp"

namespace vkattn::test {

class KernelPathTest : public VkTest {
 protected:
  void SetUp() override {
    const char* env = std::getenv("VKATTN_PATH");  // the suite may run under VKATTN_PATH=scalar
    saved_env_ = env != nullptr ? std::optional<std::string>(env) : std::nullopt;
    ::unsetenv("VKATTN_CM_BLOCK_K");
    ::unsetenv("VKATTN_CM_BLOCK_Q");
    ::unsetenv("VKATTN_CM_SUBGROUPS");
    VkTest::SetUp();
  }
  void TearDown() override {
    if (saved_env_) {
      ::setenv("VKATTN_PATH", saved_env_->c_str(), 1);
    } else {
      ::unsetenv("VKATTN_PATH");
    }
    ::unsetenv("VKATTN_CM_BLOCK_K");
    ::unsetenv("VKATTN_CM_BLOCK_Q");
    ::unsetenv("VKATTN_CM_SUBGROUPS");
    VkTest::TearDown();
  }
  std::optional<std::string> saved_env_;
  static AttentionDesc desc(DType dtype, std::int64_t head_dim) {
    AttentionDesc d;
    d.dtype = dtype;
    d.q_heads = 2;
    d.seq_q = 100;  // more rows than a decode (planning/split_k.hpp): the coopmat kernels take it
    d.seq_k = 72;
    d.head_dim = head_dim;
    return d;
  }
  std::string name_of(const AttentionDesc& d) {
    Result<std::string> n = forward_variant_name(ctx(), d);
    EXPECT_TRUE(n.is_ok()) << n.status().to_string();
    return n.is_ok() ? n.value() : "";
  }
  static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  }
  // A plan created with desc.path = `path` (kCoopmat or kCoopmatKhr): a _coopmat (_coopmat_khr)
  // variant where the device has that extension and the build compiled it, else kUnsupported
  // naming the request and the missing extension (or "not compiled in").
  template <class Plan>
  void expect_coopmat_or_refusal(const Result<Plan>& plan, KernelPath path = KernelPath::kCoopmat) {
    const bool khr = path == KernelPath::kCoopmatKhr;
    const std::string name = to_string(path);
    if (khr ? ctx().info().coopmat_khr : ctx().info().coopmat) {
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
      EXPECT_TRUE(ends_with(plan->variant_name(), "_" + name)) << plan->variant_name();
      return;
    }
    ASSERT_FALSE(plan.is_ok());
    EXPECT_EQ(plan.status().code(), ErrorCode::kUnsupported) << plan.status().to_string();
    EXPECT_NE(plan.status().message().find("desc.path = " + name + ":"), std::string::npos) << plan.status().message();
    const ToolchainInfo t = toolchain_info();
    const bool compiled = khr ? t.khr_cooperative_matrix : t.nv_cooperative_matrix;
    const std::string why =
        !compiled ? "not compiled in" : khr ? "VK_KHR_cooperative_matrix" : "VK_NV_cooperative_matrix";
    EXPECT_NE(plan.status().message().find(why), std::string::npos) << plan.status().message();
  }
};

}  // namespace vkattn::test
