// Partial attention and the exact merge (vkattn/merge.hpp, mask.hpp's q_offset / k_offset):
// attention over chunks of the keys, each placed in the whole sequence by its offsets, merged by
// MergePlan, equals the fp64 reference over the whole sequence; the merge itself against a
// double-precision merge of random parts (including parts and rows that saw nothing); bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;
constexpr DType BF16 = DType::kBF16;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// A view of keys [k0, k0 + len) of a [B, H, S, D] (or bias [B, H, Sq, Sk]) view: the key axis is
// `axis` (2 for K and V, 3 for the bias).
TensorView key_slice(TensorView v, int axis, std::int64_t k0, std::int64_t len) {
  const auto a = static_cast<std::size_t>(axis);
  v.offset += static_cast<VkDeviceSize>(k0 * v.strides[a]) * dtype_size(v.dtype);
  v.shape[a] = len;
  return v;
}

// Cut points of [0, sk) into `parts` non-empty chunks of random sizes.
std::vector<std::int64_t> random_cuts(std::int64_t sk, std::int64_t parts, std::mt19937_64& rng) {
  std::vector<std::int64_t> cuts{0, sk};
  std::uniform_int_distribution<std::int64_t> at(1, sk - 1);
  while (static_cast<std::int64_t>(cuts.size()) < parts + 1) {
    const std::int64_t c = at(rng);
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

struct ChunkCase {
  CaseShape shape;
  std::int64_t parts;
};

void PrintTo(const ChunkCase& c, std::ostream* os) { *os << c.shape.name() << "_parts" << c.parts; }

class PartialMergeTest : public VkTest, public ::testing::WithParamInterface<ChunkCase> {};

// Each chunk of keys runs as its own forward with desc.mask.k_offset (and q_offset for the
// alignment: top-left with offsets, mask.hpp), the sink in chunk 0 only; MergePlan combines the
// chunks' (O, LSE) from one parts buffer into the case's O and LSE.
TEST_P(PartialMergeTest, ChunksMergeToTheWholeSequence) {
  const ChunkCase& cc = GetParam();
  const CaseShape& shape = cc.shape;
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  const std::int64_t B = shape.batch, H = shape.q_heads, Sq = shape.seq_q, Sk = shape.seq_k;
  const std::int64_t Dv = c->ref.dv();
  const std::int64_t N = cc.parts;
  const std::int64_t part_rows = B * H * Sq;
  Result<Tensor> o_parts = Tensor::create(ctx(), shape.dtype, {N * B, H, Sq, Dv});
  ASSERT_TRUE(o_parts.is_ok());
  Result<Tensor> lse_parts = Tensor::create(ctx(), F32, {N, B, H, Sq});
  ASSERT_TRUE(lse_parts.is_ok());
  ASSERT_TRUE(o_parts->fill(kNaN).is_ok());
  ASSERT_TRUE(lse_parts->fill(kNaN).is_ok());

  const std::vector<std::int64_t> cuts = random_cuts(Sk, N, rng);
  const ForwardTensors whole = c->tensors();
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t k0 = cuts[static_cast<std::size_t>(n)];
    const std::int64_t len = cuts[static_cast<std::size_t>(n + 1)] - k0;
    SCOPED_TRACE("chunk " + std::to_string(n) + ": keys [" + std::to_string(k0) + ", " + std::to_string(k0 + len) + ")");
    AttentionDesc d = c->desc();
    d.seq_k = len;
    // diag(i) of the whole problem is i + (Sk - Sq if bottom-right); the chunk's key j is key
    // k0 + j: top-left with q_offset - k_offset = (Sk - Sq if bottom-right) - k0.
    const std::int64_t shift = (shape.mask.align == Align::kBottomRight ? Sk - Sq : 0) - k0;
    d.mask.align = Align::kTopLeft;
    d.mask.q_offset = std::max<std::int64_t>(shift, 0);
    d.mask.k_offset = std::max<std::int64_t>(-shift, 0);
    d.score_mod.sinks = shape.mod.sinks && n == 0;  // a sink joins one part's denominator
    ForwardTensors t = whole;
    t.k = key_slice(whole.k, 2, k0, len);
    t.v = key_slice(whole.v, 2, k0, len);
    if (whole.bias) t.bias = key_slice(*whole.bias, 3, k0, len);
    if (!d.score_mod.sinks) t.sinks.reset();
    t.o = TensorView::contiguous(o_parts->buffer(), o_parts->size_bytes(), shape.dtype, {B, H, Sq, Dv},
                                 static_cast<VkDeviceSize>(n * part_rows * Dv) * dtype_size(shape.dtype));
    t.lse = TensorView::contiguous(lse_parts->buffer(), lse_parts->size_bytes(), F32, {B, H, Sq},
                                   static_cast<VkDeviceSize>(n * part_rows) * 4);
    Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    const Status s = plan->run(t);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }

  MergeDesc md;
  md.dtype = shape.dtype;
  md.part_dtype = shape.dtype;
  md.batch = B, md.heads = H, md.seq = Sq, md.head_dim_v = Dv, md.num_parts = N;
  Result<MergePlan> merge = MergePlan::create(ctx(), md);
  ASSERT_TRUE(merge.is_ok()) << merge.status().to_string();
  MergeTensors mt;
  mt.o_parts = TensorView::contiguous(o_parts->buffer(), o_parts->size_bytes(), shape.dtype, {B, H, Sq, Dv});
  mt.o_part_stride = part_rows * Dv;
  mt.lse_parts = TensorView::contiguous(lse_parts->buffer(), lse_parts->size_bytes(), F32, {B, H, Sq});
  mt.lse_part_stride = part_rows;
  mt.o = whole.o;
  mt.lse = whole.lse;
  const Status s = merge->run(mt);
  ASSERT_TRUE(s.is_ok()) << s.to_string();

  const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
  // Each part is rounded to the storage type before the merge: twice the forward's tolerance.
  Tolerance tol = output_tolerance(shape.dtype);
  tol.rel *= 2, tol.of_max *= 2;
  expect_close(c->download_o(), ref.o, tol, "merged O");
  expect_close(c->download_lse(), ref.lse, lse_tolerance(shape.dtype), "merged LSE");
}

ScoreMod mods(bool alibi, bool rel, bool bias, bool sinks, std::optional<float> softcap = {}) {
  ScoreMod m;
  if (alibi) m.alibi = Alibi::kPerHead;
  if (rel) m.rel_pos_max_distance = 9;
  if (bias) m.bias = F32;
  m.sinks = sinks;
  m.softcap = softcap;
  return m;
}

CaseShape chunk_shape(std::int64_t hq, std::int64_t hkv, std::int64_t sq, std::int64_t sk, std::int64_t d, DType dt,
                      Mask mask, ScoreMod mod = {}) {
  CaseShape c{1, hq, hkv, sq, sk, d, dt, mask, Layout::kBHSD, true};
  c.mod = mod;
  return c;
}

const ChunkCase kChunkCases[] = {
    {chunk_shape(2, 2, 33, 100, 32, F32, kNoMask), 3},
    {chunk_shape(4, 2, 20, 90, 64, F16, kCausalBR), 4},  // later chunks see nothing for early rows
    {chunk_shape(2, 1, 40, 40, 16, F32, kCausalTL), 5},
    {chunk_shape(2, 2, 50, 30, 32, F32, kCausalBR), 2},  // Sq > Sk: rows that see nothing at all
    {chunk_shape(2, 2, 24, 120, 32, F32, Mask::window(7, 3)), 6},  // most chunks see nothing
    {chunk_shape(2, 2, 16, 80, 32, F32, kCausalBR, mods(true, true, true, true, 20.0f)), 3},
    {chunk_shape(3, 3, 10, 64, 8, F16, kNoMask, mods(false, false, false, true)), 7},
};

INSTANTIATE_TEST_SUITE_P(Chunks, PartialMergeTest, ::testing::ValuesIn(kChunkCases),
                         [](const ::testing::TestParamInfo<ChunkCase>& p) {
                           return p.param.shape.name() + "_parts" + std::to_string(p.param.parts);
                         });

// The offsets alone: a problem placed at q_offset / k_offset matches the reference that measures
// causal masks, windows, ALiBi and relative positions between those positions.
class OffsetForwardTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};
TEST_P(OffsetForwardTest, MatchesFp64Reference) { check_case(ctx(), GetParam()); }

CaseShape at(CaseShape c, std::int64_t q_offset, std::int64_t k_offset) {
  c.mask.q_offset = q_offset;
  c.mask.k_offset = k_offset;
  return c;
}

const CaseShape kOffsetCases[] = {
    at(chunk_shape(2, 2, 30, 50, 32, F32, kCausalTL), 70, 40),
    at(chunk_shape(2, 2, 30, 50, 32, F32, kCausalBR), 0, 25),
    at(chunk_shape(2, 1, 20, 60, 16, F16, Mask::window(5, 2, Align::kTopLeft)), 100, 90),
    at(chunk_shape(2, 2, 17, 33, 32, F32, kNoMask, mods(true, true, false, false)), 12, 3),
    at(chunk_shape(1, 1, 10, 40, 8, F32, kCausalTL), 0, 1000),  // every key after every query: nothing seen
};
INSTANTIATE_TEST_SUITE_P(Offsets, OffsetForwardTest, ::testing::ValuesIn(kOffsetCases),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

// ---- the merge alone, against a double-precision merge of random parts ----------------------

struct HostParts {
  std::vector<float> o;    // [N, rows, Dv]
  std::vector<float> lse;  // [N, rows]
};

// Random parts: LSE in [-3, 8], O in [-1, 1]; about `empty` of the parts saw nothing (LSE = -inf,
// O = NaN, which must not be read), and row 0 saw nothing in any part.
HostParts random_parts(std::int64_t n, std::int64_t rows, std::int64_t dv, DType dt, std::mt19937_64& rng,
                       float empty_share = 0.25f) {
  HostParts p;
  std::uniform_real_distribution<float> val(-1.0f, 1.0f), lse(-3.0f, 8.0f), coin(0.0f, 1.0f);
  p.o.resize(static_cast<std::size_t>(n * rows * dv));
  p.lse.resize(static_cast<std::size_t>(n * rows));
  for (std::int64_t k = 0; k < n; ++k) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const bool empty = r == 0 || coin(rng) < empty_share;
      p.lse[static_cast<std::size_t>(k * rows + r)] = empty ? -std::numeric_limits<float>::infinity() : lse(rng);
      for (std::int64_t d = 0; d < dv; ++d) p.o[static_cast<std::size_t>((k * rows + r) * dv + d)] = empty ? kNaN : val(rng);
    }
  }
  round_to_dtype(p.o, dt);
  return p;
}

RefResult host_merge(const HostParts& p, std::int64_t n, std::int64_t rows, std::int64_t dv) {
  RefResult r;
  r.o.assign(static_cast<std::size_t>(rows * dv), 0.0);
  r.lse.assign(static_cast<std::size_t>(rows), kNegInf);
  for (std::int64_t row = 0; row < rows; ++row) {
    double m = kNegInf;
    for (std::int64_t k = 0; k < n; ++k) m = std::max(m, static_cast<double>(p.lse[static_cast<std::size_t>(k * rows + row)]));
    if (m == kNegInf) continue;
    double w_sum = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      const double l = p.lse[static_cast<std::size_t>(k * rows + row)];
      if (l == kNegInf) continue;
      const double w = std::exp(l - m);
      w_sum += w;
      for (std::int64_t d = 0; d < dv; ++d) {
        r.o[static_cast<std::size_t>(row * dv + d)] += w * p.o[static_cast<std::size_t>((k * rows + row) * dv + d)];
      }
    }
    for (std::int64_t d = 0; d < dv; ++d) r.o[static_cast<std::size_t>(row * dv + d)] /= w_sum;
    r.lse[static_cast<std::size_t>(row)] = m + std::log(w_sum);
  }
  return r;
}

class MergeTest : public VkTest {
 protected:
  // Uploads `p` to parts tensors, merges into NaN-poisoned O and LSE (all parts in one dispatch,
  // or with `one_at_a_time` one accumulate call per part after O = 0, LSE = -inf, or with
  // `accumulate_rest` part 0 copied into O and LSE and parts 1..n-1 accumulated in one dispatch)
  // and compares.
  void merge_and_compare(std::int64_t n, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t dv,
                         DType part_dt, DType out_dt, bool one_at_a_time, bool accumulate_rest = false,
                         float empty_share = 0.25f) {
    SCOPED_TRACE(std::string("n") + std::to_string(n) + " dv" + std::to_string(dv) + " parts " + to_string(part_dt) +
                 " out " + to_string(out_dt) + (one_at_a_time ? " accumulate" : ""));
    std::mt19937_64 rng(test_seed());
    const std::int64_t rows = b * h * s;
    const HostParts p = random_parts(n, rows, dv, part_dt, rng, empty_share);
    Result<Tensor> op = Tensor::create(ctx(), part_dt, {n * b, h, s, dv});
    Result<Tensor> lp = Tensor::create(ctx(), F32, {n, b, h, s});
    Result<Tensor> o = Tensor::create(ctx(), out_dt, {b, h, s, dv});
    Result<Tensor> lse = Tensor::create(ctx(), F32, {b, h, s});
    ASSERT_TRUE(op.is_ok() && lp.is_ok() && o.is_ok() && lse.is_ok());
    ASSERT_TRUE(op->upload(p.o).is_ok());
    ASSERT_TRUE(lp->upload(p.lse).is_ok());
    MergeDesc md;
    md.dtype = out_dt, md.part_dtype = part_dt;
    md.batch = b, md.heads = h, md.seq = s, md.head_dim_v = dv;
    MergeTensors t;
    t.o = TensorView::contiguous(o->buffer(), o->size_bytes(), out_dt, {b, h, s, dv});
    t.lse = TensorView::contiguous(lse->buffer(), lse->size_bytes(), F32, {b, h, s});
    if (accumulate_rest) {
      // O and LSE start as part 0 (O in its storage type, as a running result would be).
      std::vector<float> o0(p.o.begin(), p.o.begin() + rows * dv);
      round_to_dtype(o0, out_dt);
      ASSERT_TRUE(o->upload(o0).is_ok());
      ASSERT_TRUE(lse->upload(std::vector<float>(p.lse.begin(), p.lse.begin() + rows)).is_ok());
      md.num_parts = n - 1;
      md.accumulate = true;
      Result<MergePlan> plan = MergePlan::create(ctx(), md);
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
      t.o_parts = TensorView::contiguous(op->buffer(), op->size_bytes(), part_dt, {b, h, s, dv},
                                         static_cast<VkDeviceSize>(rows * dv) * dtype_size(part_dt));
      t.o_part_stride = rows * dv;
      t.lse_parts = TensorView::contiguous(lp->buffer(), lp->size_bytes(), F32, {b, h, s}, static_cast<VkDeviceSize>(rows) * 4);
      t.lse_part_stride = rows;
      const Status st = plan->run(t);
      ASSERT_TRUE(st.is_ok()) << st.to_string();
    } else if (!one_at_a_time) {
      ASSERT_TRUE(o->fill(kNaN).is_ok());
      ASSERT_TRUE(lse->fill(kNaN).is_ok());
      md.num_parts = n;
      Result<MergePlan> plan = MergePlan::create(ctx(), md);
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
      t.o_parts = TensorView::contiguous(op->buffer(), op->size_bytes(), part_dt, {b, h, s, dv});
      t.o_part_stride = rows * dv;
      t.lse_parts = TensorView::contiguous(lp->buffer(), lp->size_bytes(), F32, {b, h, s});
      t.lse_part_stride = rows;
      const Status st = plan->run(t);
      ASSERT_TRUE(st.is_ok()) << st.to_string();
    } else {
      ASSERT_TRUE(o->fill(0.0f).is_ok());
      ASSERT_TRUE(lse->fill(-std::numeric_limits<float>::infinity()).is_ok());
      md.num_parts = 1;
      md.accumulate = true;
      Result<MergePlan> plan = MergePlan::create(ctx(), md);
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
      for (std::int64_t k = 0; k < n; ++k) {
        t.o_parts = TensorView::contiguous(op->buffer(), op->size_bytes(), part_dt, {b, h, s, dv},
                                           static_cast<VkDeviceSize>(k * rows * dv) * dtype_size(part_dt));
        t.lse_parts = TensorView::contiguous(lp->buffer(), lp->size_bytes(), F32, {b, h, s},
                                             static_cast<VkDeviceSize>(k * rows) * 4);
        const Status st = plan->run(t);
        ASSERT_TRUE(st.is_ok()) << st.to_string();
      }
    }
    const RefResult ref = host_merge(p, n, rows, dv);
    Result<std::vector<float>> got_o = o->download();
    Result<std::vector<float>> got_lse = lse->download();
    ASSERT_TRUE(got_o.is_ok() && got_lse.is_ok());
    // The merged O's own rounding: up to fp16 2^-11, bf16 2^-8 of each element.
    const Tolerance tol = out_dt == F16    ? Tolerance{1e-3, 1e-3}
                          : out_dt == BF16 ? Tolerance{8e-3, 8e-3}
                                           : Tolerance{1e-6, 1e-5};
    expect_close(*got_o, ref.o, tol, "merged O");
    expect_close(*got_lse, ref.lse, Tolerance{1e-6, 1e-6}, "merged LSE");
  }
};

TEST_F(MergeTest, RandomPartsOneDispatch) {
  merge_and_compare(1, 1, 2, 5, 8, F32, F32, false);
  merge_and_compare(5, 2, 3, 7, 64, F32, F16, false);
  merge_and_compare(9, 1, 2, 33, 256, F16, F16, false);
  merge_and_compare(64, 1, 1, 3, 136, F32, F32, false);
  merge_and_compare(301, 1, 2, 2, 128, F32, F16, false);  // 16 lanes of 18-19 parts, 4 per step, a remainder
  merge_and_compare(64, 1, 4, 8, 128, F16, F16, false);   // batch-1 decode's 64 splits: 16 lanes, one step each
  merge_and_compare(6, 2, 2, 11, 72, BF16, BF16, false);
  merge_and_compare(4, 1, 3, 5, 40, BF16, F32, false);
}

// Nine parts in ten saw nothing: most lanes of the 16 see nothing at all, and the lanes' tree
// combines empty lanes with seen ones in both positions.
TEST_F(MergeTest, MostPartsSawNothing) {
  merge_and_compare(64, 2, 3, 5, 128, F32, F32, false, false, 0.9f);
  merge_and_compare(37, 1, 2, 9, 64, F16, F32, false, true, 0.9f);
}

TEST_F(MergeTest, RandomPartsAccumulatedOneAtATime) {
  merge_and_compare(6, 2, 2, 9, 32, F32, F32, true);
  merge_and_compare(4, 1, 3, 5, 128, F16, F16, true);
}

// ACCUMULATE with many parts in one dispatch: the running result joins lane 0 of several lanes.
TEST_F(MergeTest, ManyPartsAccumulatedIntoARunningResult) {
  merge_and_compare(40, 1, 2, 3, 64, F32, F32, false, true);   // 39 parts: 8 lanes of 16 columns
  merge_and_compare(10, 2, 1, 4, 128, F32, F16, false, true);  // 9 parts: 2 lanes, a remainder
}

// ---- bad input: the message names the field and value; nothing is written ----------------

class MergeErrorsTest : public VkTest {};

TEST_F(MergeErrorsTest, DescRefusedNamingTheField) {
  const auto refused = [&](const MergeDesc& d, const std::string& text) {
    Result<MergePlan> p = MergePlan::create(ctx(), d);
    ASSERT_FALSE(p.is_ok());
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(text), std::string::npos) << p.status().to_string();
  };
  MergeDesc ok;
  ok.seq = 4, ok.head_dim_v = 64, ok.num_parts = 2;
  MergeDesc d = ok;
  d.num_parts = 0;
  refused(d, "desc.num_parts = 0");
  d = ok, d.num_parts = 16385;
  refused(d, "desc.num_parts = 16385");
  d = ok, d.head_dim_v = 12;
  refused(d, "desc.head_dim_v = 12");
  d = ok, d.seq = 0;
  refused(d, "desc.seq = 0");
  d = ok, d.dtype = DType::kI32;
  refused(d, "desc.dtype = i32");
  d = ok, d.part_dtype = DType::kI32;
  refused(d, "desc.part_dtype = i32");
  d = ok, d.accumulate = true, d.write_lse = false;
  refused(d, "desc.accumulate = true");
  // Sizes whose product wraps around 64 bits (to 0 here) are refused by their values.
  d = ok, d.batch = d.heads = std::int64_t{1} << 32;
  refused(d, "desc.batch = 4294967296 * desc.heads = 4294967296 * desc.seq = 4 exceeds 2^31 (rows)");
  d = ok, d.batch = d.heads = std::int64_t{1} << 31;
  refused(d, "desc.batch = 2147483648 * desc.heads = 2147483648 * desc.seq = 4 exceeds 2^31 (rows)");
}

TEST_F(MergeErrorsTest, TensorsRefusedAndNothingWritten) {
  const std::int64_t n = 3, b = 1, h = 2, s = 5, dv = 16, rows = b * h * s;
  Result<Tensor> op = Tensor::create(ctx(), F32, {n * b, h, s, dv});
  Result<Tensor> lp = Tensor::create(ctx(), F32, {n, b, h, s});
  Result<Tensor> o = Tensor::create(ctx(), F16, {b, h, s, dv});
  Result<Tensor> lse = Tensor::create(ctx(), F32, {b, h, s});
  ASSERT_TRUE(op.is_ok() && lp.is_ok() && o.is_ok() && lse.is_ok());
  ASSERT_TRUE(op->fill(0.5f).is_ok() && lp->fill(1.0f).is_ok() && o->fill(7.0f).is_ok() && lse->fill(7.0f).is_ok());
  MergeDesc md;
  md.dtype = F16, md.part_dtype = F32, md.batch = b, md.heads = h, md.seq = s, md.head_dim_v = dv, md.num_parts = n;
  Result<MergePlan> plan = MergePlan::create(ctx(), md);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  MergeTensors good;
  good.o_parts = TensorView::contiguous(op->buffer(), op->size_bytes(), F32, {b, h, s, dv});
  good.o_part_stride = rows * dv;
  good.lse_parts = TensorView::contiguous(lp->buffer(), lp->size_bytes(), F32, {b, h, s});
  good.lse_part_stride = rows;
  good.o = TensorView::contiguous(o->buffer(), o->size_bytes(), F16, {b, h, s, dv});
  good.lse = TensorView::contiguous(lse->buffer(), lse->size_bytes(), F32, {b, h, s});
  ASSERT_TRUE(plan->validate(good).is_ok()) << plan->validate(good).to_string();
  const std::vector<const Tensor*> all{&*op, &*lp, &*o, &*lse};
  const std::vector<std::vector<std::byte>> before = download_all(all);

  const auto refused = [&](const MergeTensors& t, const std::string& text) {
    const Status st = plan->run(t);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(st.message().find(text), std::string::npos) << st.to_string();
    EXPECT_EQ(download_all(all), before) << "a refused merge wrote: " << text;
  };
  MergeTensors t = good;
  t.o_part_stride = 0;
  refused(t, "t.o_part_stride = 0");
  t = good, t.o_part_stride = rows * dv + 1;  // the last part runs past the buffer
  refused(t, "o_parts (part 2)");
  t = good, t.lse_part_stride = rows + 1;
  refused(t, "lse_parts (part 2)");
  t = good, t.o_parts.shape[3] = 8;
  refused(t, "o_parts.shape[3] (Dv) = 8, expected 16");
  t = good, t.o_parts.dtype = F16;
  refused(t, "o_parts.dtype = f16, expected f32");
  t = good, t.o = TensorView::contiguous(op->buffer(), op->size_bytes(), F16, {b, h, s, dv});
  refused(t, "overlaps o_parts");
  t = good, t.lse.reset();
  refused(t, "lse is missing");
  t = good, t.lse = TensorView::contiguous(lp->buffer(), lp->size_bytes(), F32, {b, h, s});
  refused(t, "lse (bytes");
}

}  // namespace
}  // namespace vkattn::test
