// The environment is read once, when a context is created, into its options: each VKATTN_*
// variable fills the option it stands for when that option is left at its default, a value set
// in code wins, the options name what came from the environment, and a malformed value (of a
// variable or of an option) is refused naming it.
#include "context/environment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

const char* const kVariables[] = {"VKATTN_DEVICE",       "VKATTN_VALIDATION",  "VKATTN_PIPELINE_CACHE",
                                  "VKATTN_PATH",         "VKATTN_CM_BLOCK_Q",  "VKATTN_CM_BLOCK_K",
                                  "VKATTN_CM_SUBGROUPS", "VKATTN_CM_BWD_ROWS", "VKATTN_CM_BWD_BLOCK_COLS",
                                  "VKATTN_CM_KHR",       "VKATTN_CM2",         "VKATTN_CM_NO_PREFETCH",
                                  "VKATTN_CM_STAGGER"};

class EnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kVariables) {
      if (const char* value = std::getenv(v)) saved_.emplace_back(v, value);
      ::unsetenv(v);
    }
  }
  void TearDown() override {
    for (const char* v : kVariables) ::unsetenv(v);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(EnvironmentTest, VariablesFillDefaultsAndAreNamed) {
  ::setenv("VKATTN_PATH", "scalar", 1);
  ::setenv("VKATTN_CM_BLOCK_K", "32", 1);
  ::setenv("VKATTN_CM_BWD_ROWS", "128", 1);
  ::setenv("VKATTN_PIPELINE_CACHE", "off", 1);
  ::setenv("VKATTN_DEVICE", "1", 1);
  ::setenv("VKATTN_CM_KHR", "1", 1);
  ::setenv("VKATTN_CM2", "1", 1);
  ::setenv("VKATTN_CM_NO_PREFETCH", "1", 1);
  Result<ContextOptions> o = apply_environment(ContextOptions{});
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->overrides.path, KernelPath::kScalar);
  EXPECT_EQ(o->overrides.cm_block_k, 32u);
  EXPECT_EQ(o->overrides.cm_bwd_rows, 128u);
  EXPECT_EQ(o->overrides.cm_block_q, 0u);
  EXPECT_EQ(o->overrides.cm_khr, 1u);
  EXPECT_EQ(o->overrides.cm2, 1u);
  EXPECT_EQ(o->overrides.cm_no_prefetch, 1u);
  EXPECT_FALSE(o->pipeline_cache.persist);
  EXPECT_EQ(o->device, "1");
  const std::vector<std::string> expected = {"VKATTN_DEVICE=1", "VKATTN_PIPELINE_CACHE=off", "VKATTN_PATH=scalar",
                                             "VKATTN_CM_BLOCK_K=32", "VKATTN_CM_BWD_ROWS=128", "VKATTN_CM_NO_PREFETCH=1",
                                             "VKATTN_CM_KHR=1",      "VKATTN_CM2=1"};
  EXPECT_EQ(o->from_environment, expected);
  const Overrides r = plan_overrides(*o);
  EXPECT_EQ(r.path_source, "VKATTN_PATH");
  EXPECT_EQ(r.cm_block_k.text(), "VKATTN_CM_BLOCK_K = 32");
  EXPECT_EQ(r.cm_block_q.source, "options.overrides.cm_block_q");
}

TEST_F(EnvironmentTest, OptionsSetInCodeWin) {
  ::setenv("VKATTN_PATH", "scalar", 1);
  ::setenv("VKATTN_CM_BLOCK_Q", "256", 1);
  ::setenv("VKATTN_PIPELINE_CACHE", "/tmp/from-env.bin", 1);
  ContextOptions given;
  given.overrides.path = KernelPath::kCoopmat;
  given.overrides.cm_block_q = 64;
  given.pipeline_cache.path = "/tmp/from-code.bin";
  given.from_environment = {"stale"};  // output only: replaced
  Result<ContextOptions> o = apply_environment(given);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->overrides.path, KernelPath::kCoopmat);
  EXPECT_EQ(o->overrides.cm_block_q, 64u);
  EXPECT_EQ(o->pipeline_cache.path, "/tmp/from-code.bin");
  EXPECT_TRUE(o->from_environment.empty());
  const Overrides r = plan_overrides(*o);
  EXPECT_EQ(r.path_source, "options.overrides.path");
  EXPECT_EQ(r.cm_block_q.text(), "options.overrides.cm_block_q = 64");
}

// An adopted device is the host's: the variables that choose or create a device do not apply, and
// a cache path from the environment does not apply where persistence is off.
TEST_F(EnvironmentTest, OnlyVariablesThatCanTakeEffectAreTaken) {
  ::setenv("VKATTN_DEVICE", "1", 1);
  ::setenv("VKATTN_VALIDATION", "1", 1);
  ::setenv("VKATTN_PIPELINE_CACHE", "/tmp/from-env.bin", 1);
  ContextOptions given;
  given.pipeline_cache.persist = false;
  Result<ContextOptions> o = apply_environment(given, EnvironmentFor::kAdoptedDevice);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_TRUE(o->device.empty());
  EXPECT_FALSE(o->enable_validation);
  EXPECT_TRUE(o->pipeline_cache.path.empty());
  EXPECT_TRUE(o->from_environment.empty());
  o = apply_environment(given, EnvironmentFor::kOwnedDevice);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->device, "1");
  EXPECT_TRUE(o->enable_validation);
  EXPECT_TRUE(o->pipeline_cache.path.empty());
  const std::vector<std::string> expected = {"VKATTN_DEVICE=1", "VKATTN_VALIDATION=1"};
  EXPECT_EQ(o->from_environment, expected);
}

// The message apply_environment refuses `variable` = `value` with ("" if it accepts it).
std::string refusal(const char* variable, const char* value) {
  ::setenv(variable, value, 1);
  const Result<ContextOptions> o = apply_environment(ContextOptions{});
  ::unsetenv(variable);
  return o.is_ok() ? std::string() : o.status().message();
}

TEST_F(EnvironmentTest, MalformedValuesAreRefusedByName) {
  ::setenv("VKATTN_CM_SUBGROUPS", "six", 1);
  Result<ContextOptions> o = apply_environment(ContextOptions{});
  ASSERT_FALSE(o.is_ok());
  EXPECT_EQ(o.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(o.status().message(), "VKATTN_CM_SUBGROUPS = \"six\" is not 4 or 8");
  ::unsetenv("VKATTN_CM_SUBGROUPS");
  EXPECT_EQ(refusal("VKATTN_CM_KHR", "yes"), "VKATTN_CM_KHR = \"yes\" is not 1");
  EXPECT_EQ(refusal("VKATTN_CM2", "2"), "VKATTN_CM2 = \"2\" is not 1");
  // 0 is the default, not a value to set.
  EXPECT_EQ(refusal("VKATTN_CM_NO_PREFETCH", "0"), "VKATTN_CM_NO_PREFETCH = \"0\" is not 1");
  EXPECT_EQ(refusal("VKATTN_CM_STAGGER", "2"), "VKATTN_CM_STAGGER = \"2\" is not 1");
  ::setenv("VKATTN_CM_STAGGER", "1", 1);
  o = apply_environment(ContextOptions{});
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->overrides.cm_stagger, 1u);
  EXPECT_EQ(plan_overrides(*o).cm_stagger.text(), "VKATTN_CM_STAGGER = 1");
  ::unsetenv("VKATTN_CM_STAGGER");
  ContextOptions bad;
  bad.overrides.cm_bwd_block_cols = 48;
  o = apply_environment(bad);
  ASSERT_FALSE(o.is_ok());
  EXPECT_EQ(o.status().message(), "options.overrides.cm_bwd_block_cols = 48 is not 16, 32 or 64");
  ContextOptions bad_path;
  bad_path.overrides.path = static_cast<KernelPath>(9);
  o = apply_environment(bad_path);
  ASSERT_FALSE(o.is_ok());
  EXPECT_EQ(o.status().message(), "options.overrides.path = 9 is not a KernelPath value");
  // VKATTN_VALIDATION takes 0 or 1; a malformed variable is refused even where code sets its field.
  ::setenv("VKATTN_VALIDATION", "yes", 1);
  o = apply_environment(ContextOptions{});
  ASSERT_FALSE(o.is_ok());
  EXPECT_EQ(o.status().message(), "VKATTN_VALIDATION = \"yes\" is not 0 or 1");
  ::setenv("VKATTN_VALIDATION", "0", 1);
  o = apply_environment(ContextOptions{});
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_FALSE(o->enable_validation);
  ::unsetenv("VKATTN_VALIDATION");
  ContextOptions in_code;
  in_code.overrides.path = KernelPath::kScalar;
  in_code.overrides.cm_block_q = 64;
  ::setenv("VKATTN_PATH", "bogus", 1);
  o = apply_environment(in_code);
  ASSERT_FALSE(o.is_ok());
  EXPECT_NE(o.status().message().find("VKATTN_PATH = \"bogus\""), std::string::npos) << o.status().message();
  ::unsetenv("VKATTN_PATH");
  ::setenv("VKATTN_CM_BLOCK_Q", "33", 1);
  o = apply_environment(in_code);
  ASSERT_FALSE(o.is_ok());
  EXPECT_NE(o.status().message().find("VKATTN_CM_BLOCK_Q = \"33\""), std::string::npos) << o.status().message();
  ::unsetenv("VKATTN_CM_BLOCK_Q");
  ::setenv("VKATTN_PIPELINE_CACHE", "OFF", 1);
  o = apply_environment(ContextOptions{});
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_FALSE(o->pipeline_cache.persist);
}

// A context reads the environment when it is created, not later, and says what it took.
class EnvironmentOnContext : public VkTest {
 protected:
  void TearDown() override {
    ::unsetenv("VKATTN_PATH");
    VkTest::TearDown();
  }
};

TEST_F(EnvironmentOnContext, ReadOnceAtCreation) {
  ::setenv("VKATTN_PATH", "scalar", 1);
  std::unique_ptr<Context> c = make_context(test_options());
  ASSERT_NE(c, nullptr);
  ::setenv("VKATTN_PATH", "coopmat", 1);  // too late for `c`
  EXPECT_EQ(c->options().overrides.path, KernelPath::kScalar);
  const std::vector<std::string>& taken = c->options().from_environment;
  EXPECT_NE(std::find(taken.begin(), taken.end(), "VKATTN_PATH=scalar"), taken.end());
  AttentionDesc d;
  d.dtype = DType::kF16;
  d.seq_q = d.seq_k = 16;
  d.head_dim = 64;
  {  // the plan goes before `c`
    Result<ForwardPlan> plan = ForwardPlan::create(*c, d);
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    EXPECT_EQ(plan->path_reason(), "VKATTN_PATH = scalar");
    EXPECT_NE(plan->variant_name().find("_scalar"), std::string::npos);
  }
}

}  // namespace
}  // namespace vkattn::test
