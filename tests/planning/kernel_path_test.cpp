// Path choice: kAuto takes the coopmat kernel where the device and the problem allow it and the
// scalar kernel otherwise, visibly (the variant name ends in _coopmat or _scalar); desc.path,
// ContextOptions::overrides.path and env VKATTN_PATH override it; an override that cannot be
// honoured is kUnsupported with the reason. On lavapipe (no VK_NV_cooperative_matrix) every case
// checks the refusals; on a device with it (the H100) the same cases check which kernel runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/kernel_path_fixture.hpp"

namespace vkattn::test {
namespace {

TEST_F(KernelPathTest, AutoTakesCoopmatExactlyWhereItCanRun) {
  const bool cm = auto_uses_coopmat(ctx());
  const std::string tc = f16_tensor_core_suffix(ctx());  // _coopmat2 in the GPU suite's coopmat2 pass
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF16, 64)), cm ? tc : "_scalar"));
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF16, 128)), cm ? tc : "_scalar"));
  // Head dims of 8 mod 16 too (padded inside the kernels), Dk != Dv included.
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF16, 24)), cm ? tc : "_scalar"));
  AttentionDesc dv = desc(DType::kF16, 32);
  dv.head_dim_v = 40;
  EXPECT_TRUE(ends_with(name_of(dv), cm ? tc : "_scalar"));
  // Never on coopmat: fp32 storage.
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF32, 64)), "_scalar"));
}

TEST_F(KernelPathTest, ExplicitScalarAlwaysRunsScalar) {
  AttentionDesc d = desc(DType::kF16, 64);
  d.path = KernelPath::kScalar;
  EXPECT_TRUE(ends_with(name_of(d), "_scalar"));
  ::setenv("VKATTN_PATH", "coopmat", 1);  // the env only overrides kAuto
  reopen_context();
  EXPECT_TRUE(ends_with(name_of(d), "_scalar"));
}

TEST_F(KernelPathTest, ExplicitCoopmatRunsItOrSaysWhyNot) {
  AttentionDesc d = desc(DType::kF16, 64);
  d.path = KernelPath::kCoopmat;
  expect_coopmat_or_refusal(ForwardPlan::create(ctx(), d));
  // Problems the coopmat kernel cannot take, on any device: the first reason is named.
  struct Case {
    DType dtype;
    std::int64_t head_dim;
    const char* reason;
  };
  const Case cases[] = {{DType::kF32, 64, "desc.dtype = f32"}, {DType::kF32, 24, "desc.dtype = f32"}};
  for (const Case& c : cases) {
    AttentionDesc bad = desc(c.dtype, c.head_dim);
    bad.path = KernelPath::kCoopmat;
    Result<ForwardPlan> p = ForwardPlan::create(ctx(), bad);
    ASSERT_FALSE(p.is_ok()) << c.reason;
    EXPECT_EQ(p.status().code(), ErrorCode::kUnsupported);
    const std::string expected = ctx().info().coopmat ? c.reason : "VK_NV_cooperative_matrix";
    EXPECT_NE(p.status().message().find(expected), std::string::npos) << p.status().message();
  }
  // bf16 runs there on fp16 operands, and the name says so.
  AttentionDesc bf16 = desc(DType::kBF16, 24);
  bf16.path = KernelPath::kCoopmat;
  Result<ForwardPlan> b = ForwardPlan::create(ctx(), bf16);
  expect_coopmat_or_refusal(b);
  if (b.is_ok()) {
    EXPECT_TRUE(ends_with(b->variant_name(), "_f16ops_coopmat")) << b->variant_name();
  }
}

// The KHR build of the same kernels: what auto takes where it can run (kCoopmatKhrByDefault),
// and what an explicit coopmat_khr runs, forward and backward, or refuses saying why.
TEST_F(KernelPathTest, ExplicitCoopmatKhrRunsItOrSaysWhyNot) {
  AttentionDesc d = desc(DType::kF16, 64);
  EXPECT_TRUE(ends_with(name_of(d), auto_uses_coopmat(ctx()) ? f16_tensor_core_suffix(ctx()) : std::string("_scalar")))
      << name_of(d);
  d.path = KernelPath::kCoopmatKhr;
  expect_coopmat_or_refusal(ForwardPlan::create(ctx(), d), KernelPath::kCoopmatKhr);
  expect_coopmat_or_refusal(BackwardPlan::create(ctx(), d), KernelPath::kCoopmatKhr);
  // VKATTN_CM_KHR = 1: auto prefers the KHR build where it can run, else falls back as usual.
  const char* saved = std::getenv("VKATTN_CM_KHR");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::setenv("VKATTN_CM_KHR", "1", 1);
  reopen_context();
  const std::string preferred = name_of(desc(DType::kF16, 64));
  EXPECT_TRUE(ends_with(preferred, auto_uses_coopmat2(ctx()) ? "_coopmat2"  // VKATTN_CM2 = 1 wins
                                   : ctx().info().coopmat_khr ? "_coopmat_khr"
                                   : ctx().info().coopmat     ? "_coopmat"
                                                              : "_scalar"))
      << preferred;
  if (saved != nullptr) {
    ::setenv("VKATTN_CM_KHR", saved_value.c_str(), 1);
  } else {
    ::unsetenv("VKATTN_CM_KHR");
  }
  reopen_context();
  AttentionDesc f32 = desc(DType::kF32, 64);
  f32.path = KernelPath::kCoopmatKhr;
  Result<ForwardPlan> p = ForwardPlan::create(ctx(), f32);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(p.status().message().find(ctx().info().coopmat_khr ? "desc.dtype = f32" : "desc.path = coopmat_khr"),
            std::string::npos)
      << p.status().message();
}

// The cooperative-matrix-2 kernels: an explicit request runs them, forward and backward, or is
// refused saying why (lavapipe: the device has none).
TEST_F(KernelPathTest, ExplicitCoopmat2RunsItOrSaysWhyNot) {
  AttentionDesc d = desc(DType::kF16, 64);
  d.path = KernelPath::kCoopmat2;
  Result<ForwardPlan> f = ForwardPlan::create(ctx(), d);
  Result<BackwardPlan> b = BackwardPlan::create(ctx(), d);
  if (ctx().info().coopmat2) {
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    EXPECT_TRUE(ends_with(f->variant_name(), "_coopmat2")) << f->variant_name();
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    EXPECT_TRUE(ends_with(b->variant_name(), "_coopmat2")) << b->variant_name();
    EXPECT_EQ(b->path_reason(), "desc.path = coopmat2");
    return;
  }
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kUnsupported);
  const std::string why = toolchain_info().nv_cooperative_matrix2 ? "desc.path = coopmat2: the device has no usable "
                                                                    "VK_NV_cooperative_matrix2"
                                                                  : "desc.path = coopmat2: not compiled in";
  EXPECT_EQ(f.status().message().rfind(why, 0), 0u) << f.status().message();
}

TEST_F(KernelPathTest, EnvironmentOverridesAuto) {
  const AttentionDesc d = desc(DType::kF16, 64);
  ::setenv("VKATTN_PATH", "scalar", 1);
  reopen_context();
  EXPECT_TRUE(ends_with(name_of(d), "_scalar"));
  for (const KernelPath path : {KernelPath::kCoopmat, KernelPath::kCoopmatKhr, KernelPath::kCoopmat2}) {
    const std::string name = to_string(path);
    ::setenv("VKATTN_PATH", name.c_str(), 1);
    reopen_context();
    Result<std::string> n = forward_variant_name(ctx(), d);
    const DeviceInfo& i = ctx().info();
    if (path == KernelPath::kCoopmat ? i.coopmat : path == KernelPath::kCoopmatKhr ? i.coopmat_khr : i.coopmat2) {
      ASSERT_TRUE(n.is_ok()) << n.status().to_string();
      EXPECT_TRUE(ends_with(n.value(), "_" + name));
    } else {
      ASSERT_FALSE(n.is_ok());
      EXPECT_EQ(n.status().code(), ErrorCode::kUnsupported);
      EXPECT_NE(n.status().message().find("VKATTN_PATH = " + name), std::string::npos) << n.status().message();
    }
  }
  ::setenv("VKATTN_PATH", "tensorcores", 1);
  Result<std::unique_ptr<Context>> bad = create_context();
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("VKATTN_PATH = \"tensorcores\" is not auto, scalar, coopmat, coopmat_khr or coopmat2"),
            std::string::npos)
      << bad.status().message();
}

// The backward follows the same choice: every head dim, past 128 in chunks of the head dim
// (_dsplit); an explicit coopmat request it cannot take is refused with the reason.
TEST_F(KernelPathTest, BackwardPathFollowsTheChoice) {
  const bool cm = auto_uses_coopmat(ctx());
  Result<BackwardPlan> auto64 = BackwardPlan::create(ctx(), desc(DType::kF16, 64));
  ASSERT_TRUE(auto64.is_ok()) << auto64.status().to_string();
  EXPECT_TRUE(ends_with(auto64->variant_name(), cm ? f16_tensor_core_suffix(ctx()) : "_scalar")) << auto64->variant_name();
  // Head dim 256: the backward takes the coopmat kernels too, dQ in 2 chunks, dK and dV in 4 (the
  // cooperative-matrix-2 kernels take the whole head dim).
  Result<BackwardPlan> auto256 = BackwardPlan::create(ctx(), desc(DType::kF16, 256));
  ASSERT_TRUE(auto256.is_ok()) << auto256.status().to_string();
  const std::string tail256 = auto_uses_coopmat2(ctx()) ? "_coopmat2" : "_dsplit2x4" + coopmat_suffix(ctx());
  EXPECT_TRUE(ends_with(auto256->variant_name(), cm ? tail256 : "_scalar")) << auto256->variant_name();
  // fp32 storage: an explicit coopmat request is refused with the reason.
  AttentionDesc f32 = desc(DType::kF32, 64);
  f32.path = KernelPath::kCoopmat;
  Result<BackwardPlan> forced = BackwardPlan::create(ctx(), f32);
  ASSERT_FALSE(forced.is_ok());
  EXPECT_EQ(forced.status().code(), ErrorCode::kUnsupported) << forced.status().to_string();
  const std::string reason = ctx().info().coopmat ? "desc.path = coopmat: desc.dtype = f32" : "VK_NV_cooperative_matrix";
  EXPECT_NE(forced.status().message().find(reason), std::string::npos) << forced.status().message();

  AttentionDesc d64 = desc(DType::kF16, 64);
  d64.path = KernelPath::kCoopmat;
  expect_coopmat_or_refusal(BackwardPlan::create(ctx(), d64));
}

// The kernel auto picks computes the right answer: fp16 cases the coopmat kernel takes on a
// device that has it, with every mask and score_mod, GQA, varlen, padding and ragged lengths
// (tile edges). On lavapipe they run the scalar kernel.
class KernelPathCorrectness : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(KernelPathCorrectness, MatchesReference) { check_case(ctx(), GetParam()); }

std::vector<CaseShape> path_cases() {
  const CaseShape base{1, 2, 2, 77, 130, 64, DType::kF16, kNoMask, Layout::kBHSD, true};
  std::vector<CaseShape> v;
  for (std::int64_t d : {16, 64, 128}) {
    v.push_back(make(base, [&](CaseShape& c) { c.head_dim = d; }));
    v.push_back(make(base, [&](CaseShape& c) {
      c.batch = 2;
      c.q_heads = 4;
      c.seq_q = c.seq_k = 64;
      c.head_dim = d;
      c.mask = kCausalBR;
      c.layout = Layout::kBSHD;
    }));
  }
  v.push_back(make(base, [](CaseShape& c) {  // rows that see no key
    c.seq_q = 200;
    c.seq_k = 33;
    c.kv_heads = 1;
    c.mask = kCausalBR;
    c.layout = Layout::kSBHD;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // decode-like, no LSE
    c.seq_q = 1;
    c.seq_k = 300;
    c.head_dim = 128;
    c.with_lse = false;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // every score_mod with a window
    c.mask.window_left = 40;
    c.mask.window_right = 7;
    c.mod.softcap = 20.0f;
    c.mod.alibi = Alibi::kPerHead;
    c.mod.rel_pos_max_distance = 9;
    c.mod.bias = DType::kF16;
    c.mod.sinks = true;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // documents, varlen, Dk != Dv
    c.batch = 3;
    c.mask.documents = true;
    c.seqs = SeqKind::kVarlen;
    c.head_dim = 32;
    c.head_dim_v = 64;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // padding, top-left causal
    c.batch = 2;
    c.seqs = SeqKind::kPadded;
    c.mask = Mask::causal_mask(Align::kTopLeft);
  }));
  return v;
}

INSTANTIATE_TEST_SUITE_P(Auto, KernelPathCorrectness, ::testing::ValuesIn(path_cases()),
                         [](const auto& p) { return p.param.name(); });

// The backward auto picks (coopmat dq/dkdv kernels where the device has them) on the same cases.
class KernelPathBackward : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(KernelPathBackward, MatchesReference) { check_backward_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Auto, KernelPathBackward, ::testing::ValuesIn(path_cases()),
                         [](const auto& p) { return p.param.name(); });

}  // namespace
}  // namespace vkattn::test
