// Resolving a desc into the problem both passes plan from: the defaults filled in (Hkv, Dv), the
// sequence mode, varlen maxima and totals; and the checks that need no device, each naming the
// desc field and its value. (The 47-row bad-input table runs the same checks through the plans:
// tests/plans/*_errors_test.cpp.)
#include "planning/problem.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vkattn::test {
namespace {

AttentionDesc base() {
  AttentionDesc d;
  d.batch = 2;
  d.q_heads = 8;
  d.seq_q = 10;
  d.seq_k = 20;
  d.head_dim = 64;
  return d;
}

TEST(Problem, DefaultsAreFilledIn) {
  Result<Problem> p = resolve_problem(base());
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->kv_heads, 8);     // 0: Hkv = Hq
  EXPECT_EQ(p->head_dim_v, 64);  // 0: Dv = Dk
  EXPECT_EQ(p->seq_q, 10);
  EXPECT_EQ(p->seq_k, 20);
  EXPECT_EQ(p->seq_mode, SeqMode::kDense);
  const Problem u = unchecked_problem(base());
  EXPECT_EQ(u.kv_heads, p->kv_heads);
  EXPECT_EQ(u.head_dim_v, p->head_dim_v);
  EXPECT_EQ(u.seq_mode, p->seq_mode);
}

TEST(Problem, VarlenTakesTheLongestSequencesAndTheTotals) {
  AttentionDesc d = base();
  d.seq_q = d.seq_k = 0;  // from cu_seqlens
  d.sequences.cu_seqlens_q = {0, 3, 10};
  d.sequences.cu_seqlens_k = {0, 12, 17};
  Result<Problem> p = resolve_problem(d);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->seq_mode, SeqMode::kVarlen);
  EXPECT_EQ(p->seq_q, 7);
  EXPECT_EQ(p->seq_k, 12);
  EXPECT_EQ(p->total_q, 10);
  EXPECT_EQ(p->total_k, 17);
  EXPECT_EQ(unchecked_problem(d).seq_mode, SeqMode::kVarlen);
  d.seq_q = 5;  // given, but shorter than the longest sequence
  p = resolve_problem(d);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().message(),
            "desc.seq_q = 5 is less than the longest query sequence 7 (use 0 to take it from cu_seqlens_q)");
}

TEST(Problem, PaddingIsItsOwnMode) {
  AttentionDesc d = base();
  d.sequences.seq_lens_kv = {20, 7};
  Result<Problem> p = resolve_problem(d);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->seq_mode, SeqMode::kPadded);
  d.sequences.seq_lens_kv = {21, 7};
  p = resolve_problem(d);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().message(), "desc.sequences.seq_lens_kv[0] = 21 is outside [0, desc.seq_k = 20]");
}

TEST(Problem, ChecksNameTheFieldAndValue) {
  const auto message = [](auto change) {
    AttentionDesc d = base();
    change(d);
    Result<Problem> p = resolve_problem(d);
    EXPECT_FALSE(p.is_ok());
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    return p.status().message();
  };
  EXPECT_EQ(message([](AttentionDesc& d) { d.kv_heads = 3; }), "desc.kv_heads = 3 does not divide desc.q_heads = 8");
  EXPECT_EQ(message([](AttentionDesc& d) { d.head_dim = 12; }),
            "desc.head_dim = 12 (must be a multiple of 8 in [8, 256])");
  EXPECT_EQ(message([](AttentionDesc& d) { d.head_dim_v = 264; }),
            "desc.head_dim_v = 264 (must be a multiple of 8 in [8, 256])");
  EXPECT_EQ(message([](AttentionDesc& d) { d.seq_k = 0; }), "desc.seq_k = 0 (must be in [1, 2^28])");
  EXPECT_EQ(message([](AttentionDesc& d) { d.path = static_cast<KernelPath>(5); }),
            "desc.path = 5 is not a KernelPath value");
}

}  // namespace
}  // namespace vkattn::test
