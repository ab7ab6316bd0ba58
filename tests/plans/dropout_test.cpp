// Dropout on P (vkattn/dropout.hpp): the generator against Random123's published Philox4x32-10
// answers, the engine's host generator against the reference's independent one, the kernels' mask
// read back bit for bit (and the same on both kernel paths where the device has the coopmat ones),
// forward and backward against the fp64 reference over masks, score_mods, GQA, sequence modes,
// dtypes and decode shapes, finite differences, per-call seeds, and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/philox_ref.hpp"
#include "support/vk_test.hpp"
#include "vkattn/backward.hpp"
#include "vkattn/dropout.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;
constexpr DType BF16 = DType::kBF16;

// Random123's kat_vectors, "philox4x32 10": (counter, key) -> output.
struct Kat {
  std::array<std::uint32_t, 4> counter;
  std::array<std::uint32_t, 2> key;
  std::array<std::uint32_t, 4> out;
};
constexpr Kat kKats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

TEST(DropoutGenerator, MatchesRandom123KnownAnswers) {
  for (const Kat& k : kKats) {
    EXPECT_EQ(philox4x32_10(k.counter, k.key), k.out);
    EXPECT_EQ(ref_philox4x32_10(k.counter, k.key), k.out);
  }
}

TEST(DropoutGenerator, EngineAndReferenceAgreeAndKeepOneMinusP) {
  std::mt19937_64 rng(test_seed());
  for (const float p : {0.1f, 0.5f, 0.875f}) {
    const DropoutRng r{rng(), static_cast<std::uint32_t>(rng())};
    std::int64_t kept = 0;
    const std::int64_t n = 40000;
    for (std::int64_t e = 0; e < n; ++e) {
      const std::int64_t b = e % 3, h = (e / 3) % 5, i = (e / 15) % 97, j = e / 1455 + (e % 7) * 1000;
      const bool keep = dropout_keep(r, p, 5, b, h, i, j);
      ASSERT_EQ(keep, ref_dropout_keep(r.seed, r.offset, static_cast<double>(p), 5, b, h, i, j)) << e;
      kept += keep ? 1 : 0;
    }
    // Binomial(n, 1 - p): 5 standard deviations.
    const double mean = static_cast<double>(n) * (1.0 - p), sd = std::sqrt(static_cast<double>(n) * p * (1.0 - p));
    EXPECT_NEAR(static_cast<double>(kept), mean, 5 * sd) << "p = " << p;
  }
  EXPECT_EQ(dropout_threshold(0.0f), 0u);
  EXPECT_EQ(dropout_threshold(0.5f), 0x8000u);
  EXPECT_EQ(dropout_threshold(0.1f), 6553u);                            // floor(0.1 2^16)
  EXPECT_EQ(dropout_threshold(std::nextafter(1.0f, 0.0f)), 0xFFFFu);  // (1 - 2^-24) 2^16, floored
  // The kept elements' factor is 1 / (1 - p') for the rounded p' = threshold / 2^16: unbiased.
  EXPECT_EQ(dropout_scale(0.5f), 2.0f);
  EXPECT_EQ(dropout_scale(0.1f), static_cast<float>(65536.0 / (65536.0 - 6553.0)));
  EXPECT_EQ(dropout_scale(1e-6f), 1.0f);  // below 2^-16: nothing is dropped, nothing scaled
  EXPECT_EQ(dropout_scale(std::nextafter(1.0f, 0.0f)), 65536.0f);
}

class DropoutTest : public VkTest {};

// The mask as the kernels apply it, read back exactly: every key of a row has the same K (so P
// is 1/Sk for each, exactly) and V is the identity (key j writes column j), so
// O[i, j] = Z_ij / ((1 - p) Sk): zero exactly where dropped.
struct MaskProbe {
  std::vector<float> o;  // dense [B, Hq, Sq, Dv]
  std::string variant;
};

Result<MaskProbe> probe_mask(Context& ctx, CaseShape shape, std::mt19937_64& rng, KernelPath path) {
  Result<AttentionCase> c = AttentionCase::create(ctx, shape, rng);
  if (!c) return c.status();
  const std::int64_t B = shape.batch, Hkv = shape.kv_heads, Sk = shape.seq_k, Dk = shape.head_dim;
  const std::int64_t Dv = c->ref.dv();
  std::vector<float> k(static_cast<std::size_t>(B * Hkv * Sk * Dk));
  std::vector<float> v(static_cast<std::size_t>(B * Hkv * Sk * Dv), 0.0f);
  for (std::size_t n = 0; n < k.size(); ++n) k[n] = c->k[n % static_cast<std::size_t>(Dk)];  // row 0's K everywhere
  for (std::int64_t r = 0; r < B * Hkv * Sk; ++r) v[static_cast<std::size_t>(r * Dv + r % Sk)] = 1.0f;
  Result<Tensor> kt = c->device_tensor(ctx, k, Role::kK);
  if (!kt) return kt.status();
  Result<Tensor> vt = c->device_tensor(ctx, v, Role::kV);
  if (!vt) return vt.status();
  c->k_dev.emplace(std::move(kt).value());
  c->v_dev.emplace(std::move(vt).value());
  AttentionDesc d = c->desc();
  d.path = path;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx, d);
  if (!plan) return plan.status();
  if (Status s = plan->run(c->tensors()); !s) return s;
  MaskProbe m{c->download_o(), plan->variant_name()};
  // The reference's mask, compared here so each caller needs only the probe.
  const RefProblem& rp = c->ref;
  std::size_t wrong = 0;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < shape.q_heads; ++h)
      for (std::int64_t i = 0; i < shape.seq_q; ++i)
        for (std::int64_t j = 0; j < Sk; ++j) {
          const float o = m.o[static_cast<std::size_t>(((b * shape.q_heads + h) * shape.seq_q + i) * Dv + j)];
          const bool kept = rp.dropout_factor(b, h, i, j) != 0.0;
          const double want = kept ? 1.0 / ((1.0 - rp.dropout_p) * static_cast<double>(Sk)) : 0.0;
          if ((o != 0.0f) != kept || std::fabs(o - want) > 2e-3 * want) {
            if (++wrong <= 5) ADD_FAILURE() << m.variant << ": O[" << b << "," << h << "," << i << "," << j << "] = " << o
                                           << ", the reference's mask gives " << want;
          }
        }
  EXPECT_EQ(wrong, 0u) << m.variant;
  return m;
}

TEST_F(DropoutTest, KernelMaskEqualsTheReferenceBitForBit) {
  std::mt19937_64 rng(test_seed());
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(test_seed()));
  const bool cm = ctx().info().coopmat;
  const bool cm_khr = ctx().info().coopmat_khr;
  for (const float p : {0.25f, 0.7f}) {
    // Prefill with GQA, and a decode shape (packed rows, split-K), in fp32 and fp16.
    for (CaseShape s : {CaseShape{2, 4, 2, 37, 64, 32, F32, kNoMask, Layout::kBHSD, false, 64},
                        CaseShape{1, 8, 1, 1, 64, 16, F16, kNoMask, Layout::kBSHD, false, 64},
                        CaseShape{2, 2, 2, 20, 48, 16, F16, kNoMask, Layout::kBHSD, false, 48}}) {
      s.dropout = p;
      SCOPED_TRACE(s.name());
      Result<MaskProbe> scalar = probe_mask(ctx(), s, rng, KernelPath::kScalar);
      ASSERT_TRUE(scalar.is_ok()) << scalar.status().to_string();
      if (s.dtype != F16) continue;
      // The other paths with the same seed and offset: the same rng draw order gives each.
      for (const KernelPath other : {KernelPath::kCoopmat, KernelPath::kCoopmatKhr}) {
        if (!(other == KernelPath::kCoopmat ? cm : cm_khr)) continue;
        std::mt19937_64 again = rng;
        Result<MaskProbe> a = probe_mask(ctx(), s, rng, KernelPath::kScalar);
        Result<MaskProbe> b = probe_mask(ctx(), s, again, other);
        ASSERT_TRUE(a.is_ok() && b.is_ok());
        EXPECT_TRUE(b->variant.ends_with(std::string("_") + to_string(other))) << b->variant;
        for (std::size_t n = 0; n < a->o.size(); ++n) {
          ASSERT_EQ(a->o[n] != 0.0f, b->o[n] != 0.0f) << "element " << n << " of " << a->variant << " / " << b->variant;
        }
      }
    }
  }
}

CaseShape with_dropout(CaseShape c, float p = 0.3f) {
  c.dropout = p;
  return c;
}

const std::vector<CaseShape>& dropout_cases() {
  static const std::vector<CaseShape> cases = [] {
    std::vector<CaseShape> v;
    v.push_back(with_dropout({2, 4, 2, 33, 70, 32, F32, kNoMask}, 0.1f));
    v.push_back(with_dropout({1, 2, 2, 65, 65, 16, F16, kCausalBR, Layout::kBSHD}));
    v.push_back(with_dropout({1, 2, 1, 40, 90, 24, F32, kCausalTL}, 0.6f));
    v.push_back(with_dropout({1, 2, 2, 50, 50, 16, BF16, kCausalBR}));
    v.push_back(make(with_dropout({1, 2, 2, 40, 80, 16, F32, Mask::window(12, 3)}), [](CaseShape& c) {
      c.mod.softcap = 20.0f;
      c.mod.alibi = Alibi::kPerHead;
    }));
    v.push_back(make(with_dropout({2, 2, 1, 30, 45, 16, F32, kCausalBR}), [](CaseShape& c) {
      c.mod.sinks = true;
      c.mod.bias = F32;
      c.mod.rel_pos_max_distance = 5;
    }));
    v.push_back(make(with_dropout({3, 2, 2, 40, 40, 16, F16, kCausalBR}), [](CaseShape& c) { c.seqs = SeqKind::kVarlen; }));
    v.push_back(make(with_dropout({2, 2, 2, 30, 50, 16, F32, kNoMask}), [](CaseShape& c) { c.seqs = SeqKind::kPadded; }));
    v.push_back(make(with_dropout({2, 2, 2, 40, 40, 16, F32, kNoMask}), [](CaseShape& c) {
      c.mask.documents = true;
      c.layout = Layout::kSBHD;
    }));
    v.push_back(with_dropout({1, 8, 2, 65, 100, 32, F16, kCausalBR}, 0.9f));
    return v;
  }();
  return cases;
}

class DropoutCases : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(DropoutCases, ForwardMatchesFp64Reference) { check_case(ctx(), GetParam()); }

TEST_P(DropoutCases, BackwardMatchesFp64Reference) { check_backward_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Dropout, DropoutCases, ::testing::ValuesIn(dropout_cases()),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

// Decode shapes (forward only: packed GQA and split-K; the mask follows the key, not the split).
const std::vector<CaseShape>& decode_cases() {
  static const std::vector<CaseShape> cases = {
      with_dropout({1, 8, 1, 1, 500, 32, F16, kCausalBR, Layout::kBSHD}),
      with_dropout({2, 8, 2, 3, 300, 64, F32, kCausalBR, Layout::kBSHD}, 0.5f),
      make(with_dropout({3, 4, 2, 2, 200, 32, F32, kCausalBR}), [](CaseShape& c) { c.seqs = SeqKind::kVarlen; }),
  };
  return cases;
}

class DropoutDecode : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(DropoutDecode, ForwardMatchesFp64Reference) { check_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Dropout, DropoutDecode, ::testing::ValuesIn(decode_cases()),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

// Each call's seed and offset: the same ones give the same bits, another offset another mask.
TEST_F(DropoutTest, SeedAndOffsetArePerCall) {
  std::mt19937_64 rng(test_seed());
  CaseShape s{1, 2, 2, 20, 40, 16, F32, kNoMask};
  s.dropout = 0.5f;
  Result<AttentionCase> c = AttentionCase::create(ctx(), s, rng);
  ASSERT_TRUE(c.is_ok());
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_NE(plan->variant_name().find("_dropout"), std::string::npos) << plan->variant_name();
  ForwardTensors t = c->tensors();
  ASSERT_TRUE(plan->run(t).is_ok());
  const std::vector<float> first = c->download_o();
  ASSERT_TRUE(plan->run(t).is_ok());
  EXPECT_EQ(c->download_o(), first);
  t.dropout.offset += 1;
  ASSERT_TRUE(plan->run(t).is_ok());
  EXPECT_NE(c->download_o(), first);
  // The reference with that offset agrees (the kernels read the new offset, not a stale one).
  RefProblem rp = c->ref;
  rp.dropout_offset = t.dropout.offset;
  expect_close(c->download_o(), reference_forward(rp, c->q, c->k, c->v).o, output_tolerance(F32), "O, offset + 1");
}

// Central differences of L = sum(O * dO) through the fp64 forward with the same mask.
TEST_F(DropoutTest, GradientsMatchFiniteDifferences) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  CaseShape shape{1, 2, 1, 5, 7, 8, F32, kCausalBR, Layout::kBHSD, true};
  shape.dropout = 0.4f;
  shape.mod.softcap = 0.5f;
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), c->fwd.desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  std::vector<double> q(c->fwd.q.begin(), c->fwd.q.end()), k(c->fwd.k.begin(), c->fwd.k.end()),
      v(c->fwd.v.begin(), c->fwd.v.end());
  auto loss = [&]() { return reference_loss(*c, c->fwd.ref, q, k, v); };
  auto finite_difference = [&](std::vector<double>& x) { return central_differences(x, loss); };
  const Tolerance tol{1e-4, 1e-3};
  expect_close(c->download(*c->dq_dev, Role::kQ), finite_difference(q), tol, "dQ vs finite differences");
  expect_close(c->download(*c->dk_dev, Role::kK), finite_difference(k), tol, "dK vs finite differences");
  expect_close(c->download(*c->dv_dev, Role::kV), finite_difference(v), tol, "dV vs finite differences");
}

TEST_F(DropoutTest, BadProbabilityIsRefusedAndNothingIsWritten) {
  std::mt19937_64 rng(test_seed());
  Result<AttentionCase> c = AttentionCase::create(ctx(), CaseShape{1, 2, 2, 8, 8, 16, F32, kNoMask}, rng);
  ASSERT_TRUE(c.is_ok());
  for (const float p : {1.0f, -0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN(),
                        std::numeric_limits<float>::infinity()}) {
    AttentionDesc d = c->desc();
    d.dropout.p = p;
    expect_error_and_untouched(
        *c,
        [&] {
          Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
          if (!plan) return plan.status();
          return plan->run(c->tensors());
        },
        ErrorCode::kInvalidArgument, "desc.dropout.p = ");
    Result<BackwardPlan> b = BackwardPlan::create(ctx(), d);
    ASSERT_FALSE(b.is_ok());
    EXPECT_NE(b.status().message().find("desc.dropout.p"), std::string::npos) << b.status().message();
  }
}

}  // namespace
}  // namespace vkattn::test
