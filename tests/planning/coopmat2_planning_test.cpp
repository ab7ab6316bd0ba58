// Planning of the cooperative-matrix-2 forward (KernelPath::kCoopmat2) on a DeviceInfo that has it,
// on any host: which problems it takes and which it refuses with the reason, its tiles and variant
// name, the backward's own kernels and tiles, the coopmat fallback of each for calls off 16 bytes,
// and the automatic choice (only with the cm2 override). On a device without it (lavapipe), an explicit
// request is refused by name: tests/planning/kernel_path_test.cpp.
#include <gtest/gtest.h>

#include <string>

#include "planning/cm2_tiles.hpp"
#include "planning/planner.hpp"
#include "support/h100_like.hpp"
#include "vkattn/kernel_path.hpp"

namespace vkattn::test {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

DeviceInfo h200_like() {
  DeviceInfo info = h100_like();  // the same chip
  info.name = "H200-like";
  info.coopmat_khr = info.coopmat2 = true;
  info.compute_units = 132;
  // As NVIDIA's driver lists them for fp16 with fp32 (and fp16) accumulators at workgroup scope.
  info.coopmat2_shapes[0] = {128, 32, 16, 16};
  info.coopmat2_shapes[1] = {256, 32, 32, 16};
  info.coopmat2_max_dimension = 256;
  return info;
}

AttentionDesc prefill(std::int64_t head_dim, std::int64_t head_dim_v = 0) {
  AttentionDesc d;
  d.dtype = DType::kF16;
  d.batch = 2;
  d.q_heads = 8;
  d.kv_heads = 2;
  d.seq_q = 300;
  d.seq_k = 300;
  d.head_dim = head_dim;
  d.head_dim_v = head_dim_v;
  d.mask = Mask::causal_mask(Align::kBottomRight);
  d.score_mod.softcap = 30.0f;
  d.path = KernelPath::kCoopmat2;
  return d;
}

Overrides none() { return Overrides{}; }

bool toolchain_has_cm2() {
  const ToolchainInfo t = toolchain_info();
  return t.nv_cooperative_matrix2 && t.khr_cooperative_matrix;
}

TEST(Coopmat2Planning, ExplicitRequestPlansTheForwardWithItsTilesAndName) {
  if (!toolchain_has_cm2()) GTEST_SKIP() << "not compiled in: " << toolchain_info().nv_cooperative_matrix2_reason;
  // Head dims in (64, 128] that the 256-invocation shape's padding (32) fits take 128 x 64 tiles
  // there (cm2_tiles.cpp's measured rule); D = 72 (80 columns, 96 at that shape) does not.
  for (const auto& [dk, dv, block_q, block_k] : {std::tuple{64, 64, 64u, 64u}, {128, 128, 128u, 64u}, {72, 72, 64u, 64u},
                                                 {96, 96, 128u, 64u}, {128, 64, 128u, 64u}, {192, 128, 64u, 32u},
                                                 {256, 256, 64u, 32u}}) {
    Result<FwdVariant> f = plan_forward(prefill(dk, dv), h200_like(), none());
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    EXPECT_TRUE(f->path.cm2);
    EXPECT_FALSE(f->path.coopmat);
    EXPECT_EQ(f->path.kernels(), KernelPath::kCoopmat2);
    EXPECT_EQ(f->path.reason, "desc.path = coopmat2");
    EXPECT_EQ(f->spec.block_q, block_q) << "Dk " << dk << " Dv " << dv;
    EXPECT_EQ(f->spec.block_k, block_k) << "Dk " << dk << " Dv " << dv;
    const std::uint32_t invocations = block_q == 128u ? 256u : 128u;
    EXPECT_EQ(f->spec.workgroup_size, invocations);
    EXPECT_EQ(f->spec.splits, 1u);
    EXPECT_EQ(f->spec.pack_gqa, 0u);
    const std::string suffix = "_bq" + std::to_string(block_q) + "_bk" + std::to_string(block_k) + "_sg" +
                               std::to_string(invocations / 32) + (block_q == 128u ? "_dpad32" : "") + "_lse_coopmat2";
    EXPECT_TRUE(f->name.size() > suffix.size() && f->name.compare(f->name.size() - suffix.size(), suffix.size(), suffix) == 0)
        << f->name;
  }
  // Without a 256-invocation shape the 64 x 64 tiles stay.
  DeviceInfo small = h200_like();
  small.coopmat2_shapes[1] = {};
  Result<FwdVariant> f = plan_forward(prefill(128, 128), small, none());
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->spec.block_q, 64u);
  EXPECT_EQ(f->spec.workgroup_size, 128u);
}

TEST(Coopmat2Planning, OverridesFixTheTiles) {
  Overrides o;
  o.cm_block_q = {128, "VKATTN_CM_BLOCK_Q"};
  o.cm_block_k = {32, "VKATTN_CM_BLOCK_K"};
  o.cm_subgroups = {8, "VKATTN_CM_SUBGROUPS"};
  AttentionDesc d = prefill(128);
  Result<Problem> p = resolve_problem(d);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  Result<FwdSpecConstants> s = choose_cm2_fwd_tiles(*p, h200_like(), o);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->block_q, 128u);
  EXPECT_EQ(s->block_k, 32u);
  EXPECT_EQ(s->workgroup_size, 256u);
  EXPECT_EQ(s->cm2_dim_pad, 32u);  // the 256-invocation shape's N granularity
  // A device without a 256-invocation shape refuses eight subgroups, naming the override.
  DeviceInfo small = h200_like();
  small.coopmat2_shapes[1] = {};
  Result<FwdSpecConstants> refused = choose_cm2_fwd_tiles(*p, small, o);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_TRUE(has(refused.status().message(), "VKATTN_CM_SUBGROUPS = 8 needs 256 invocations: the device's "
                                              "cooperative-matrix-2 shapes (invocations (MxNxK granularity)) are 128 (32x16x16)"))
      << refused.status().message();
}

// The tiles follow the device shape's granularity: head dims pad to its N and K, key tiles round
// up to them, and a forced tile off the granularity is refused by name; so is a dimension past the
// device's largest.
TEST(Coopmat2Planning, TilesFollowTheDeviceShape) {
  DeviceInfo coarse = h200_like();
  coarse.coopmat2_shapes[0] = {128, 32, 64, 16};
  coarse.coopmat2_shapes[1] = {};
  Result<Problem> p = resolve_problem(prefill(72));
  ASSERT_TRUE(p.is_ok());
  Result<FwdSpecConstants> s = choose_cm2_fwd_tiles(*p, coarse, Overrides{});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->cm2_dim_pad, 64u);
  EXPECT_EQ(s->block_k, 64u);
  EXPECT_EQ(s->workgroup_size, 128u);
  Overrides o;
  o.cm_block_k = {32, "VKATTN_CM_BLOCK_K"};
  Result<FwdSpecConstants> off = choose_cm2_fwd_tiles(*p, coarse, o);
  ASSERT_FALSE(off.is_ok());
  EXPECT_TRUE(has(off.status().message(), "VKATTN_CM_BLOCK_K = 32: 32 keys are not a multiple of N and K (64, 16)"))
      << off.status().message();
  coarse.coopmat2_max_dimension = 64;
  Result<Problem> wide = resolve_problem(prefill(128));
  ASSERT_TRUE(wide.is_ok());
  Result<FwdSpecConstants> big = choose_cm2_fwd_tiles(*wide, coarse, Overrides{});
  ASSERT_FALSE(big.is_ok());
  EXPECT_TRUE(has(big.status().message(), "a matrix dimension of 128 exceeds cooperativeMatrixFlexibleDimensionsMaxDimension = 64"))
      << big.status().message();
}

// The coopmat kernel a coopmat2 plan runs for calls with views off 16 bytes.
TEST(Coopmat2Planning, TheFallbackIsTheCoopmatForward) {
  if (!toolchain_has_cm2()) GTEST_SKIP() << "not compiled in: " << toolchain_info().nv_cooperative_matrix2_reason;
  Result<FwdVariant> f = plan_forward(prefill(128), h200_like(), none());
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  Result<FwdVariant> fb = plan_cm2_fallback(*f, h200_like());
  ASSERT_TRUE(fb.is_ok()) << fb.status().to_string();
  EXPECT_EQ(fb->path.kernels(), KernelPath::kCoopmatKhr);
  EXPECT_TRUE(fb->name.ends_with("_coopmat_khr")) << fb->name;
  EXPECT_EQ(fb->path.reason, "desc.path = coopmat2 (views off 16 bytes: coopmat_khr)");
  EXPECT_EQ(fb->spec.features, f->spec.features);
}

TEST(Coopmat2Planning, WhatOnlyTheCoopmatKernelsDoIsRefusedWithTheReason) {
  const DeviceInfo info = h200_like();
  const auto refusal = [&](const AttentionDesc& d, const Overrides& o = Overrides{}) {
    Result<FwdVariant> f = plan_forward(d, info, o);
    EXPECT_FALSE(f.is_ok()) << f->name;
    return f.is_ok() ? std::string() : f.status().message();
  };
  if (!toolchain_has_cm2()) {
    EXPECT_TRUE(has(refusal(prefill(64)), "desc.path = coopmat2: not compiled in"));
    return;
  }
  AttentionDesc bf16 = prefill(64);
  bf16.dtype = DType::kBF16;
  EXPECT_EQ(refusal(bf16), "desc.path = coopmat2: desc.dtype = bf16 (the cooperative-matrix-2 kernels take f16)");
  AttentionDesc decode = prefill(128);
  decode.seq_q = 1;
  decode.seq_k = 4096;
  EXPECT_TRUE(has(refusal(decode), "desc.path = coopmat2: decode: 4 query rows per KV head run packed and split-K"));
  Overrides splits;
  splits.splits = {16, "VKATTN_SPLITS"};
  EXPECT_EQ(refusal(prefill(64), splits), "desc.path = coopmat2: VKATTN_SPLITS = 16: split-K runs on the coopmat kernels");
  DeviceInfo without = info;
  without.coopmat2 = false;
  Result<FwdVariant> f = plan_forward(prefill(64), without, none());
  ASSERT_FALSE(f.is_ok());
  EXPECT_TRUE(has(f.status().message(), "desc.path = coopmat2: the device has no usable VK_NV_cooperative_matrix2"))
      << f.status().message();
}

// The backward runs its own cooperative-matrix-2 kernels, with the same shape, padding and tile
// rule as the forward; an explicit request it cannot take is refused with the reason; decode
// shapes and forced split counts (forward-only matters) do not keep it off.
TEST(Coopmat2Planning, TheBackwardRunsItsOwnKernels) {
  if (!toolchain_has_cm2()) GTEST_SKIP() << "not compiled in: " << toolchain_info().nv_cooperative_matrix2_reason;
  for (const auto& [dk, dv, cols] : {std::tuple{64, 64, 64u}, {128, 128, 64u}, {192, 128, 32u}, {256, 256, 32u}}) {
    Result<BwdVariant> b = plan_backward(prefill(dk, dv), h200_like(), none());
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    EXPECT_TRUE(b->path.cm2);
    EXPECT_EQ(b->path.kernels(), KernelPath::kCoopmat2);
    EXPECT_EQ(b->path.reason, "desc.path = coopmat2");
    EXPECT_EQ(b->spec.block_rows, 64u);
    EXPECT_EQ(b->spec.block_cols, cols) << "Dk " << dk << " Dv " << dv;
    EXPECT_EQ(b->spec.workgroup_size, 128u);
    EXPECT_EQ(b->spec.dq_chunk16, 0u);
    EXPECT_EQ(b->spec.dkdv_chunk16, 0u);
    EXPECT_TRUE(b->name.ends_with("_coopmat2")) << b->name;
    // Its fallback for calls off 16 bytes: the KHR kernels with their own tiles (chunks past 128).
    Result<BwdVariant> fb = plan_cm2_fallback(*b, h200_like());
    ASSERT_TRUE(fb.is_ok()) << fb.status().to_string();
    EXPECT_TRUE(fb->name.ends_with("_coopmat_khr")) << fb->name;
    EXPECT_EQ(fb->spec.features, b->spec.features);
  }
  AttentionDesc decode = prefill(128);
  decode.seq_q = 1;
  decode.seq_k = 4096;
  EXPECT_TRUE(plan_backward(decode, h200_like(), none()).is_ok());
  AttentionDesc bf16 = prefill(128);
  bf16.dtype = DType::kBF16;
  Result<BwdVariant> refused = plan_backward(bf16, h200_like(), none());
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().message(), "desc.path = coopmat2: desc.dtype = bf16 (the cooperative-matrix-2 kernels take f16)");
  Overrides o;
  o.cm_bwd_block_cols = {16, "VKATTN_CM_BWD_BLOCK_COLS"};
  DeviceInfo coarse = h200_like();
  coarse.coopmat2_shapes[0] = {128, 32, 32, 16};
  Result<BwdVariant> off = plan_backward(prefill(64), coarse, o);
  ASSERT_FALSE(off.is_ok());
  EXPECT_TRUE(has(off.status().message(), "VKATTN_CM_BWD_BLOCK_COLS = 16: 16 keys are not a multiple of N and K (32, 16)"))
      << off.status().message();
}

TEST(Coopmat2Planning, AutoTakesItOnlyWithTheOverride) {
  if (!toolchain_has_cm2()) GTEST_SKIP() << "not compiled in: " << toolchain_info().nv_cooperative_matrix2_reason;
  AttentionDesc d = prefill(128);
  d.path = KernelPath::kAuto;
  Result<FwdVariant> plain = plan_forward(d, h200_like(), none());
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  EXPECT_EQ(plain->path.kernels(), kCoopmat2ByDefault ? KernelPath::kCoopmat2 : KernelPath::kCoopmatKhr);
  Overrides o;
  o.cm2 = {1, "VKATTN_CM2"};
  Result<FwdVariant> preferred = plan_forward(d, h200_like(), o);
  ASSERT_TRUE(preferred.is_ok()) << preferred.status().to_string();
  EXPECT_EQ(preferred->path.kernels(), KernelPath::kCoopmat2);
  EXPECT_EQ(preferred->path.reason, "auto: coopmat2 (VKATTN_CM2 = 1)");
  // The backward too; what it cannot run goes to the coopmat kernels as before.
  Result<BwdVariant> b = plan_backward(d, h200_like(), o);
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(b->path.kernels(), KernelPath::kCoopmat2);
  EXPECT_EQ(b->path.reason, "auto: coopmat2 (VKATTN_CM2 = 1)");
  d.dtype = DType::kBF16;
  Result<FwdVariant> bf16 = plan_forward(d, h200_like(), o);
  ASSERT_TRUE(bf16.is_ok()) << bf16.status().to_string();
  EXPECT_EQ(bf16->path.kernels(), KernelPath::kCoopmatKhr);
  b = plan_backward(d, h200_like(), o);
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(b->path.kernels(), KernelPath::kCoopmatKhr);
  // A problem the device's shapes cannot tile (a dimension past the largest) goes to the coopmat
  // kernels too when cm2 is only preferred; asked for, it is refused.
  DeviceInfo small = h200_like();
  small.coopmat2_max_dimension = 64;
  d.dtype = DType::kF16;
  Result<FwdVariant> f = plan_forward(d, small, o);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->path.kernels(), KernelPath::kCoopmatKhr);
  b = plan_backward(d, small, o);
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(b->path.kernels(), KernelPath::kCoopmatKhr);
  d.path = KernelPath::kCoopmat2;
  EXPECT_FALSE(plan_forward(d, small, o).is_ok());
}

TEST(Coopmat2Planning, PathNames) {
  EXPECT_EQ(std::string(to_string(KernelPath::kCoopmat2)), "coopmat2");
  EXPECT_EQ(kernel_path_from_string("coopmat2"), KernelPath::kCoopmat2);
  EXPECT_TRUE(is_kernel_path(KernelPath::kCoopmat2));
  EXPECT_FALSE(is_kernel_path(static_cast<KernelPath>(5)));
}

}  // namespace
}  // namespace vkattn::test
