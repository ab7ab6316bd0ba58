// The planner: one desc, planned once per pass. Both passes take the same problem and the same
// feature constants (one definition, the same ids), the kernel path is chosen by one rule for both
// with its reason, and the variant names are built from the constants. Checked on an H100-like
// DeviceInfo and on one without tensor cores, on any host.
#include "planning/planner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "planning/bwd_tiles.hpp"
#include "planning/feature_spec.hpp"
#include "planning/split_k.hpp"
#include "support/h100_like.hpp"

namespace vkattn::test {
namespace {

DeviceInfo device(bool coopmat) {
  DeviceInfo info = h100_like();
  info.name = coopmat ? "H100-like" : "plain";
  info.coopmat = coopmat;
  return info;
}

AttentionDesc desc(std::int64_t head_dim, DType dtype = DType::kF16) {
  AttentionDesc d;
  d.dtype = dtype;
  d.batch = 2;
  d.q_heads = 4;
  d.kv_heads = 2;
  d.seq_q = 100;
  d.seq_k = 130;
  d.head_dim = head_dim;
  d.mask = Mask::causal_mask(Align::kBottomRight);
  d.score_mod.alibi = Alibi::kPerHead;
  d.score_mod.sinks = true;
  return d;
}

Overrides from(KernelPath path, const char* source) {
  Overrides o;
  o.path = path;
  o.path_source = source;
  return o;
}

TEST(Planner, BothPassesShareTheProblemAndItsFeatureConstants) {
  for (bool coopmat : {false, true}) {
    const AttentionDesc d = desc(64);
    Result<FwdVariant> f = plan_forward(d, device(coopmat), Overrides{});
    Result<BwdVariant> b = plan_backward(d, device(coopmat), Overrides{});
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    EXPECT_EQ(f->spec.features, b->spec.features);
    EXPECT_EQ(f->spec.features.sinks, 1u);
    EXPECT_EQ(f->spec.features.align_br, 1u);
    EXPECT_EQ(f->problem.kv_heads, 2);
    EXPECT_EQ(b->problem.seq_k, 130);
    EXPECT_EQ(f->path.coopmat, coopmat);
    EXPECT_EQ(b->path.coopmat, coopmat);
    const std::string features = feature_name(f->spec.features);
    EXPECT_EQ(features, "d64_f16_causal_br_alibi_sink");
    EXPECT_EQ(features, feature_name(d));
    EXPECT_EQ(f->name.rfind("attn_fwd_" + features + "_", 0), 0u) << f->name;
    EXPECT_EQ(b->name.rfind("attn_bwd_" + features + "_", 0), 0u) << b->name;
    EXPECT_EQ(f->name, fwd_variant_name(f->spec, coopmat ? KernelPath::kCoopmat : KernelPath::kScalar));
  }
}

// The K/V tiles' fetch shows in the name: on the H100-like device D = 128 without a mask loads each
// tile at its turn (KV_AHEAD = 0, "_noprefetch"); causal keeps the next tile in registers; the
// scalar kernel has no such constant and no such suffix.
TEST(Planner, NamesSayWhenEachKvTileIsLoadedAtItsTurn) {
  AttentionDesc d = desc(128);
  d.mask = Mask{};
  d.score_mod = ScoreMod{};
  Result<FwdVariant> unmasked = plan_forward(d, device(true), Overrides{});
  ASSERT_TRUE(unmasked.is_ok()) << unmasked.status().to_string();
  EXPECT_EQ(unmasked->spec.kv_ahead, 0u);
  EXPECT_NE(unmasked->name.find("_bq128_bk32_sg4_noprefetch_"), std::string::npos) << unmasked->name;
  d.mask = Mask::causal_mask(Align::kBottomRight);
  Result<FwdVariant> causal = plan_forward(d, device(true), Overrides{});
  ASSERT_TRUE(causal.is_ok()) << causal.status().to_string();
  EXPECT_EQ(causal->spec.kv_ahead, 1u);
  EXPECT_EQ(causal->name.find("_noprefetch"), std::string::npos) << causal->name;
  EXPECT_EQ(fwd_variant_name(unmasked->spec, KernelPath::kScalar).find("_noprefetch"), std::string::npos);
}

// VKATTN_CM_NO_PREFETCH = 1 turns the prefetch off in every coopmat kernel, forward and backward,
// and the names say so; the scalar kernels have none to turn off. (At D = 104 both passes' tiles
// keep the next tile in registers by default.)
TEST(Planner, NoPrefetchOverrideReachesBothPasses) {
  Overrides o;
  o.cm_no_prefetch = {1, "VKATTN_CM_NO_PREFETCH"};
  AttentionDesc d = desc(104);
  Result<FwdVariant> fwd = plan_forward(d, device(true), o);
  Result<BwdVariant> bwd = plan_backward(d, device(true), o);
  ASSERT_TRUE(fwd.is_ok()) << fwd.status().to_string();
  ASSERT_TRUE(bwd.is_ok()) << bwd.status().to_string();
  EXPECT_EQ(fwd->spec.kv_ahead, 0u);
  EXPECT_EQ(bwd->spec.tile_ahead, 0u);
  EXPECT_NE(fwd->name.find("_noprefetch_"), std::string::npos) << fwd->name;
  EXPECT_NE(bwd->name.find("_noprefetch_"), std::string::npos) << bwd->name;
  Result<FwdVariant> plain_fwd = plan_forward(d, device(true), Overrides{});
  ASSERT_TRUE(plain_fwd.is_ok()) << plain_fwd.status().to_string();
  EXPECT_EQ(plain_fwd->spec.kv_ahead, 1u);
  Result<BwdVariant> plain = plan_backward(d, device(true), Overrides{});
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  EXPECT_EQ(plain->spec.tile_ahead, 1u);
  EXPECT_EQ(plain->name.find("_noprefetch"), std::string::npos) << plain->name;
  Result<BwdVariant> scalar = plan_backward(d, device(false), o);
  ASSERT_TRUE(scalar.is_ok()) << scalar.status().to_string();
  EXPECT_EQ(scalar->name.find("_noprefetch"), std::string::npos) << scalar->name;
}

// VKATTN_CM_STAGGER = 1 staggers the coopmat forward's loads (KV_AHEAD = 2, "_stagger"), prefill
// and decode; the backward keeps its tiles. With VKATTN_CM_NO_PREFETCH it is refused, naming both.
TEST(Planner, StaggerOverrideReachesTheForwardOnly) {
  Overrides o;
  o.cm_stagger = {1, "VKATTN_CM_STAGGER"};
  AttentionDesc d = desc(128);
  Result<FwdVariant> fwd = plan_forward(d, device(true), o);
  ASSERT_TRUE(fwd.is_ok()) << fwd.status().to_string();
  EXPECT_EQ(fwd->spec.kv_ahead, 2u);
  EXPECT_NE(fwd->name.find("_stagger_"), std::string::npos) << fwd->name;
  Result<BwdVariant> bwd = plan_backward(d, device(true), o);
  ASSERT_TRUE(bwd.is_ok()) << bwd.status().to_string();
  EXPECT_EQ(bwd->name, plan_backward(d, device(true), Overrides{})->name);
  AttentionDesc decode = d;
  decode.seq_q = 1;
  decode.q_heads = 8;
  decode.kv_heads = 1;
  decode.path = KernelPath::kCoopmat;  // (auto takes decode to the KHR build, which this device lacks)
  DeviceInfo gpu = device(true);
  gpu.max_storage_buffer_range = 1u << 30;  // room for the split-K workspace
  Result<FwdVariant> step = plan_forward(decode, gpu, o);
  ASSERT_TRUE(step.is_ok()) << step.status().to_string();
  EXPECT_NE(step->name.find("_stagger_"), std::string::npos) << step->name;
  EXPECT_EQ(fwd_variant_name(fwd->spec, KernelPath::kScalar).find("_stagger"), std::string::npos);
  o.cm_no_prefetch = {1, "VKATTN_CM_NO_PREFETCH"};
  Result<FwdVariant> both = plan_forward(d, device(true), o);
  ASSERT_FALSE(both.is_ok());
  EXPECT_EQ(both.status().message(), "VKATTN_CM_NO_PREFETCH = 1 with VKATTN_CM_STAGGER = 1: a tile is either loaded at its turn or staggered, not both");
}

TEST(Planner, PathReasons) {
  const DeviceInfo cm = device(true);
  EXPECT_EQ(plan_forward(desc(64), cm, Overrides{})->path.reason, "auto: coopmat");
  EXPECT_EQ(plan_forward(desc(64), device(false), Overrides{})->path.reason.rfind("auto: scalar (the device has no", 0),
            0u);
  EXPECT_EQ(plan_forward(desc(64, DType::kF32), cm, Overrides{})->path.reason,
            "auto: scalar (desc.dtype = f32 (needs f16, or bf16 on fp16 operands))");
  // Head dim 256: both passes take coopmat (the backward splits the head dim: BackwardHeadDimChunks).
  EXPECT_EQ(plan_forward(desc(256), cm, Overrides{})->path.reason, "auto: coopmat");
  EXPECT_EQ(plan_backward(desc(256), cm, Overrides{})->path.reason, "auto: coopmat");
  // A device whose shared memory holds the forward's but not the backward's smallest tiles at D = 256
  // keeps the backward on the scalar kernels, visibly.
  DeviceInfo small = cm;
  small.max_shared_memory = 22144;  // the forward's smallest tiles (22096 bytes) fit
  const std::string bwd256 = plan_backward(desc(256), small, Overrides{})->path.reason;
  EXPECT_EQ(bwd256.rfind("auto: scalar (the backward's head dims 256/256 need 22224 bytes of shared memory", 0), 0u)
      << bwd256;
  AttentionDesc scalar = desc(64);
  scalar.path = KernelPath::kScalar;
  EXPECT_EQ(plan_backward(scalar, cm, from(KernelPath::kCoopmat, "VKATTN_PATH"))->path.reason, "desc.path = scalar");
  EXPECT_EQ(plan_forward(desc(64), cm, from(KernelPath::kScalar, "VKATTN_PATH"))->path.reason, "VKATTN_PATH = scalar");
  EXPECT_EQ(plan_forward(desc(64), cm, from(KernelPath::kCoopmat, "options.overrides.path"))->path.reason,
            "options.overrides.path = coopmat");
}

TEST(Planner, AnExplicitCoopmatThatCannotRunNamesWhoAskedAndWhy) {
  const DeviceInfo cm = device(true);
  DeviceInfo small = cm;
  small.max_shared_memory = 22144;  // the forward's smallest tiles (22096 bytes) fit
  Result<BwdVariant> b = plan_backward(desc(256), small, from(KernelPath::kCoopmat, "options.overrides.path"));
  ASSERT_FALSE(b.is_ok());
  EXPECT_EQ(b.status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(b.status().message().rfind("options.overrides.path = coopmat: the backward's head dims 256/256 need", 0),
            0u)
      << b.status().message();
  AttentionDesc d = desc(24);
  d.path = KernelPath::kCoopmat;
  d.dtype = DType::kF32;
  Result<FwdVariant> f = plan_forward(d, cm, Overrides{});
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().message(), "desc.path = coopmat: desc.dtype = f32 (needs f16, or bf16 on fp16 operands)");
  // A head dim of 8 mod 16 is no reason: the kernels pad it.
  d.dtype = DType::kF16;
  EXPECT_TRUE(plan_forward(d, cm, Overrides{}).is_ok());
}

// Head dims past 128 on the coopmat backward: dQ, and dK with dV, in chunks of the head dim that
// keep each kernel's fragments within kCmBwdFragmentRegisters (the grid's z axis), named _dsplit.
TEST(Planner, BackwardHeadDimChunks) {
  EXPECT_EQ(cm_bwd_chunk16(128, 128, BwdKernel::kDq), 0u);  // one chunk up to 128
  EXPECT_EQ(cm_bwd_chunk16(128, 128, BwdKernel::kDkdv), 0u);
  EXPECT_EQ(cm_bwd_chunk16(64, 64, BwdKernel::kDkdv), 0u);
  EXPECT_EQ(cm_bwd_chunk16(256, 256, BwdKernel::kDq), 8u);  // 2 chunks of 8 fragments
  EXPECT_EQ(cm_bwd_chunk16(256, 256, BwdKernel::kDkdv), 4u);  // 4 of 4
  EXPECT_EQ(cm_bwd_chunk16(192, 192, BwdKernel::kDq), 0u);
  EXPECT_EQ(cm_bwd_chunk16(192, 128, BwdKernel::kDkdv), 6u);  // dK 6 + 6, dV 6 + 2
  EXPECT_EQ(cm_bwd_chunk16(136, 136, BwdKernel::kDkdv), 5u);  // 9 fragments: 5 + 4
  for (std::uint32_t dk = 8; dk <= 256; dk += 8) {
    for (const std::uint32_t dv : {dk, 128u, 64u}) {
      for (const BwdKernel k : {BwdKernel::kDq, BwdKernel::kDkdv}) {
        const std::uint32_t dk16 = (dk + 15) / 16, dv16 = (dv + 15) / 16;
        const std::uint32_t chunk = cm_bwd_chunk16(dk, dv, k);
        const std::uint32_t whole = k == BwdKernel::kDq ? dk16 : std::max(dk16, dv16);
        const std::uint32_t out = chunk == 0 ? whole : chunk;
        EXPECT_LE(4 * (dk16 + dv16) + out * (k == BwdKernel::kDq ? 8 : 16), kCmBwdFragmentRegisters)
            << dk << "/" << dv;
        EXPECT_LE(out, whole) << dk << "/" << dv;
      }
    }
  }
  const DeviceInfo cm = device(true);
  Result<BwdVariant> b = plan_backward(desc(256), cm, Overrides{});
  ASSERT_TRUE(b.is_ok());
  EXPECT_NE(b->name.find("_dsplit2x4_coopmat"), std::string::npos) << b->name;
  EXPECT_EQ(cm_bwd_chunks(b->spec, BwdKernel::kDq), 2u);
  EXPECT_EQ(cm_bwd_chunks(b->spec, BwdKernel::kDkdv), 4u);
  Result<BwdVariant> b128 = plan_backward(desc(128), cm, Overrides{});
  EXPECT_EQ(b128->name.find("_dsplit"), std::string::npos) << b128->name;
  EXPECT_EQ(cm_bwd_chunks(b128->spec, BwdKernel::kDkdv), 1u);
}

// bf16 runs on the coopmat kernels' fp16 operands, and says so in the name (auto: where
// kCoopmatBf16ByDefault).
TEST(Planner, Bf16OnCoopmatSaysF16Operands) {
  const DeviceInfo cm = device(true);
  AttentionDesc d = desc(64, DType::kBF16);
  Result<FwdVariant> automatic = plan_forward(d, cm, Overrides{});
  ASSERT_TRUE(automatic.is_ok());
  EXPECT_EQ(automatic->path.coopmat, kCoopmatBf16ByDefault) << automatic->path.reason;
  if (!kCoopmatBf16ByDefault) {
    EXPECT_EQ(automatic->path.reason.rfind("auto: scalar (bf16: ", 0), 0u);
  }
  d.path = KernelPath::kCoopmat;
  Result<FwdVariant> f = plan_forward(d, cm, Overrides{});
  Result<BwdVariant> b = plan_backward(d, cm, Overrides{});
  ASSERT_TRUE(f.is_ok() && b.is_ok());
  EXPECT_TRUE(f->name.ends_with("_f16ops_coopmat")) << f->name;
  EXPECT_TRUE(b->name.ends_with("_f16ops_coopmat")) << b->name;
  if (!kCoopmatBf16ByDefault) {
    EXPECT_EQ(automatic->name.find("_f16ops"), std::string::npos) << automatic->name;
  }
  d.dtype = DType::kF16;
  EXPECT_EQ(plan_forward(d, cm, Overrides{})->name.find("_f16ops"), std::string::npos);
}

// The desc is checked before anything that depends on the device.
TEST(Planner, DescErrorsComeFirst) {
  AttentionDesc d = desc(64);
  d.batch = 0;
  d.path = KernelPath::kCoopmat;
  Result<FwdVariant> f = plan_forward(d, device(false), Overrides{});
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(f.status().message(), "desc.batch = 0 (must be >= 1)");
}

// Split-K for decode (planning/split_k.hpp) on an H100-like device (132 compute units). Each split
// keeps 2 key tiles and at least 4 keys per workgroup row, so that the partial O's written and
// merged stay a fraction of K and V read. The count brings the grid to 8 workgroups per unit,
// rounded up, on the scalar kernel (the NV build's device: decode runs scalar there), and to 2
// per unit, rounded down, on the coopmat kernel (the KHR build's device); 1 where the grid
// already has that many.
TEST(Planner, DecodeSplitCounts) {
  const auto plan = [](bool khr, std::int64_t batch, std::int64_t sq, std::int64_t sk) {
    DeviceInfo info = device(true);
    info.coopmat_khr = khr;
    info.compute_units = 132;
    info.max_storage_buffer_range = 1u << 31;
    AttentionDesc d;
    d.dtype = DType::kF16;
    d.batch = batch, d.q_heads = 32, d.kv_heads = 4, d.seq_q = sq, d.seq_k = sk, d.head_dim = 128;
    d.mask = Mask::causal_mask(Align::kBottomRight);
    Result<FwdVariant> f = plan_forward(d, info, Overrides{});
    EXPECT_TRUE(f.is_ok()) << f.status().to_string();
    return f ? *f : FwdVariant{};
  };
  for (const bool khr : {false, true}) {
    for (const std::int64_t sq : {1, 2, 4, 8}) {
      const FwdVariant f = plan(khr, 1, sq, 32768);
      SCOPED_TRACE(f.name);
      EXPECT_EQ(f.name.ends_with("_coopmat_khr"), khr);
      EXPECT_EQ(f.spec.pack_gqa, 1u);
      const std::uint32_t rows = std::min<std::uint32_t>(static_cast<std::uint32_t>(8 * sq),
                                                         f.spec.block_q / f.spec.row_lanes);
      const std::uint32_t tiles = 32768 / f.spec.block_k;
      EXPECT_LE(f.spec.splits, tiles / kMinTilesPerSplit);
      EXPECT_GE(32768 / f.spec.splits, kKeysPerWorkspaceRow * rows);
      EXPECT_NE(f.name.find("_split" + std::to_string(f.spec.splits) + "_"), std::string::npos);
    }
  }
  // Scalar kernel.
  EXPECT_EQ(plan(false, 1, 8, 32768).spec.splits, 128u);  // 64 rows: 256 keys per split at least
  EXPECT_EQ(plan(false, 1, 1, 32768).spec.splits, 512u);  // 1056 / 4 KV heads = 264 wanted, rounded up
  EXPECT_EQ(plan(false, 16, 1, 32768).spec.splits, 32u);  // 64 (b, KV head) pairs: 17 wanted, rounded up
  EXPECT_EQ(plan(false, 1, 1, 256).spec.splits, 4u);      // 8 key tiles of 32: 2 per split
  // Coopmat kernel (its decode tiles at D = 128: 64 keys at Sq = 1 to 8).
  EXPECT_EQ(plan(true, 1, 1, 32768).spec.splits, 64u);   // 264 / 4 KV heads = 66 wanted, rounded down
  EXPECT_EQ(plan(true, 1, 2, 32768).spec.splits, 64u);   // 16 rows: the same
  // 32 and 64 rows: 64 splits would leave 8 tiles each, so one workgroup per unit (33 wanted).
  EXPECT_EQ(plan(true, 1, 4, 32768).spec.splits, 32u);
  EXPECT_EQ(plan(true, 1, 8, 32768).spec.splits, 32u);
  EXPECT_EQ(plan(true, 16, 8, 4096).spec.splits, 4u);    // 4 splits keep 16 tiles each: two per unit stay
  EXPECT_EQ(plan(true, 16, 4, 32768).spec.splits, 4u);
  EXPECT_EQ(plan(true, 1, 8, 4096).spec.splits, 16u);    // 64 rows: 256 keys per split at least
  EXPECT_EQ(plan(true, 16, 1, 32768).spec.splits, 4u);   // 64 (b, KV head) pairs: 4.1 wanted, rounded down
  EXPECT_EQ(plan(true, 1, 1, 256).spec.splits, 2u);      // 4 key tiles of 64: 2 per split
  const FwdVariant full = plan(true, 128, 1, 32768);     // 512 (b, KV head) pairs: more than 264
  EXPECT_EQ(full.spec.splits, 1u);
  EXPECT_EQ(full.name.find("_split"), std::string::npos) << full.name;
}

}  // namespace
}  // namespace vkattn::test
