// QK-norm and RoPE (vkattn/qk_transform.hpp): the forward and the backward against an fp64
// reference written from the header's definitions, finite differences for dX and the RMSNorm
// weight's gradient, the angle's precision at positions up to 10^6, in-place use, determinism, and
// the refusals (each names its field and value and leaves every tensor as it was).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/qk_reference.hpp"
#include "support/test_tensors.hpp"
#include "support/tolerances.hpp"
#include "support/vk_test.hpp"
#include "vkattn/qk_transform.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;
constexpr DType BF16 = DType::kBF16;

TensorView rows_view(const Tensor& t, const QKTransformDesc& d) {
  return TensorView::contiguous(t.buffer(), t.size_bytes(), d.dtype, {d.batch, d.heads, d.seq, d.head_dim});
}

// One problem on the device: inputs (rounded to the dtype), weight and positions.
struct QKCase {
  RefQK ref;
  std::vector<float> x, weight_f;
  std::optional<Tensor> x_dev, y_dev, weight_dev, pos_dev;

  static Result<QKCase> create(Context& ctx, const QKTransformDesc& d, std::mt19937_64& rng, std::int32_t max_pos = 4096) {
    QKCase c;
    c.ref.d = d;
    const std::size_t n = static_cast<std::size_t>(d.batch * d.heads * d.seq * d.head_dim);
    c.x = uniform_values(n, rng);
    round_to_dtype(c.x, d.dtype);
    Result<Tensor> x = upload_values(ctx, d.dtype, c.x);
    if (!x) return x.status();
    c.x_dev.emplace(std::move(x).value());
    Result<Tensor> y = Tensor::create_bytes(ctx, n * dtype_size(d.dtype), d.dtype);
    if (!y) return y.status();
    if (Status s = y->fill(std::numeric_limits<float>::quiet_NaN()); !s) return s;
    c.y_dev.emplace(std::move(y).value());
    if (d.norm.kind == QKNormKind::kRMS) {
      c.weight_f = uniform_values(static_cast<std::size_t>(d.head_dim), rng, 0.5f, 1.5f);
      c.ref.weight.assign(c.weight_f.begin(), c.weight_f.end());
      Result<Tensor> w = upload_values(ctx, F32, c.weight_f);
      if (!w) return w.status();
      c.weight_dev.emplace(std::move(w).value());
    }
    if (d.rope.positions) {
      std::uniform_int_distribution<std::int32_t> u(0, max_pos);
      std::vector<float> pf(static_cast<std::size_t>(d.batch * d.seq));
      for (float& p : pf) {
        const std::int32_t v = u(rng);
        c.ref.pos.push_back(v);
        p = static_cast<float>(v);
      }
      Result<Tensor> pt = upload_values(ctx, DType::kI32, pf);
      if (!pt) return pt.status();
      c.pos_dev.emplace(std::move(pt).value());
    }
    return c;
  }

  QKTransformTensors tensors() const {
    QKTransformTensors t{rows_view(*x_dev, ref.d), rows_view(*y_dev, ref.d), std::nullopt, std::nullopt};
    if (weight_dev) t.weight = weight_dev->view();
    if (pos_dev) t.positions = TensorView::contiguous(pos_dev->buffer(), pos_dev->size_bytes(), DType::kI32, {ref.d.batch, ref.d.seq});
    return t;
  }
  std::vector<double> x_double() const { return {x.begin(), x.end()}; }
};

QKTransformDesc make_desc(DType dtype, std::int64_t B, std::int64_t H, std::int64_t S, std::int64_t D, QKNorm norm, Rope rope) {
  QKTransformDesc d;
  d.dtype = dtype, d.batch = B, d.heads = H, d.seq = S, d.head_dim = D, d.norm = norm, d.rope = rope;
  return d;
}

Rope rope_of(RopeStyle style, std::int64_t rotary_dim = 0, bool positions = false, std::vector<std::int64_t> grid = {},
             std::vector<std::int64_t> axis_dims = {}, double theta = 10000.0) {
  Rope r;
  r.style = style, r.rotary_dim = rotary_dim, r.positions = positions, r.grid = std::move(grid);
  r.axis_dims = std::move(axis_dims), r.theta = theta;
  return r;
}

const QKNorm kRms{QKNormKind::kRMS, 1e-5f, 1.0f};
const QKNorm kL2{QKNormKind::kL2, 1e-6f, 1.0f};
const QKNorm kL2Scaled{QKNormKind::kL2, 1e-6f, 3.5f};
const QKNorm kNoNorm{};

Tolerance transform_tolerance(DType t) {
  return t == F32 ? Tolerance{0.0, 2e-6, 2e-6} : output_tolerance(t);
}

struct Named {
  std::string name;
  QKTransformDesc desc;
};

std::vector<Named> cases() {
  return {
      {"rms_rope_half_d64_f32", make_desc(F32, 2, 3, 37, 64, kRms, rope_of(RopeStyle::kRotateHalf))},
      {"l2_rope_pairs_d32_f32", make_desc(F32, 1, 2, 50, 32, kL2, rope_of(RopeStyle::kInterleaved))},
      {"l2scaled_norm_only_d48_f32", make_desc(F32, 2, 2, 20, 48, kL2Scaled, {})},
      {"rope_only_partial_d128_f32", make_desc(F32, 1, 4, 33, 128, kNoNorm, rope_of(RopeStyle::kRotateHalf, 64))},
      {"rms_rope_positions_d64_f16", make_desc(F16, 2, 2, 40, 64, kRms, rope_of(RopeStyle::kRotateHalf, 0, true))},
      {"rms_rope_pairs_r32_d96_bf16", make_desc(BF16, 1, 2, 30, 96, kRms, rope_of(RopeStyle::kInterleaved, 32))},
      {"l2_rope2d_d64_f32", make_desc(F32, 2, 2, 6 * 7, 64, kL2, rope_of(RopeStyle::kRotateHalf, 0, false, {6, 7}))},
      {"rms_rope3d_split_d96_f32",
       make_desc(F32, 1, 2, 3 * 4 * 5, 96, kRms, rope_of(RopeStyle::kRotateHalf, 0, false, {3, 4, 5}, {32, 32, 32}))},
      {"rope3d_default_split_d72_f32",
       make_desc(F32, 1, 1, 2 * 3 * 4, 72, kNoNorm, rope_of(RopeStyle::kInterleaved, 0, false, {2, 3, 4}))},
      {"rms_d256_f16", make_desc(F16, 1, 2, 17, 256, kRms, rope_of(RopeStyle::kRotateHalf, 0, false, {}, {}, 500000.0))},
      // Many rows: 564 and 752 workgroups (141 x 4 and 188 x 4: token blocks x head chunks of one and
      // two heads), so the reduce pass's invocations each add several parts of dweight; D = 8 puts
      // 64 tokens in flight per workgroup (4 lanes a row), D = 128 sixteen.
      {"rms_rope_many_rows_d8_f32", make_desc(F32, 2, 4, 4500, 8, kRms, rope_of(RopeStyle::kRotateHalf))},
      {"rms_rope_many_rows_d128_f16", make_desc(F16, 1, 8, 3000, 128, kRms, rope_of(RopeStyle::kInterleaved))},
      // Teams of lanes that the pairs do not fill (D = 24: 12 pairs on 16 lanes) and lanes owning
      // two pairs for only part of the team (D = 136: 68 pairs on 64 lanes; D = 200: 100).
      {"l2_rope_pairs_d24_f32", make_desc(F32, 2, 3, 19, 24, kL2, rope_of(RopeStyle::kInterleaved))},
      {"rms_rope_half_r64_d136_f16", make_desc(F16, 1, 3, 23, 136, kRms, rope_of(RopeStyle::kRotateHalf, 64))},
      {"rms_rope_half_d200_bf16", make_desc(BF16, 2, 1, 21, 200, kRms, rope_of(RopeStyle::kRotateHalf))},
  };
}

class QKTransformCases : public VkTest, public ::testing::WithParamInterface<Named> {};

TEST_P(QKTransformCases, ForwardAndBackwardMatchFp64) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const QKTransformDesc& d = GetParam().desc;
  Result<QKTransformPlan> plan = QKTransformPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  Result<QKCase> c = QKCase::create(ctx(), d, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  const std::vector<double> y_ref = c->ref.forward(c->x_double());
  expect_close(c->y_dev->download().value(), y_ref, transform_tolerance(d.dtype), "Y");

  // Backward: dY random; dX and (kRMS) dweight.
  std::vector<float> dy = uniform_values(c->x.size(), rng);
  round_to_dtype(dy, d.dtype);
  Result<Tensor> dy_dev = upload_values(ctx(), d.dtype, dy);
  Result<Tensor> dx_dev = Tensor::create_bytes(ctx(), dy.size() * dtype_size(d.dtype), d.dtype);
  Result<Tensor> dw_dev = Tensor::create(ctx(), F32, {d.head_dim});
  ASSERT_TRUE(dy_dev.is_ok() && dx_dev.is_ok() && dw_dev.is_ok());
  ASSERT_TRUE(dx_dev->fill(std::numeric_limits<float>::quiet_NaN()).is_ok());
  ASSERT_TRUE(dw_dev->fill(std::numeric_limits<float>::quiet_NaN()).is_ok());
  const QKTransformTensors f = c->tensors();
  QKTransformGradTensors g{f.x, rows_view(*dy_dev, d), rows_view(*dx_dev, d), f.weight, f.positions, std::nullopt};
  if (d.norm.kind == QKNormKind::kRMS) g.dweight = dw_dev->view();
  ASSERT_TRUE(plan->run_backward(g).is_ok());
  std::vector<double> dx_ref, dw_ref;
  c->ref.backward(c->x_double(), std::vector<double>(dy.begin(), dy.end()), dx_ref, dw_ref);
  const Tolerance tol = d.dtype == F32 ? Tolerance{0.0, 1e-5, 1e-5} : gradient_tolerance(d.dtype);
  expect_close(dx_dev->download().value(), dx_ref, tol, "dX");
  if (g.dweight) expect_close(dw_dev->download().value(), dw_ref, Tolerance{0.0, 1e-5, 1e-5}, "dweight");
}

INSTANTIATE_TEST_SUITE_P(QK, QKTransformCases, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Named>& p) { return p.param.name; });

class QKTransformTest : public VkTest {};

// x and dY as views at an odd element offset with odd row strides (fp16 and bf16 rows then start
// on either half of a word, and a pair of elements may straddle two words): Y, dX and dweight equal
// the contiguous run's bit for bit.
TEST_F(QKTransformTest, OddOffsetsAndStridesGiveTheContiguousResult) {
  std::mt19937_64 rng(test_seed());
  for (const DType dt : {F16, BF16}) {
    SCOPED_TRACE(to_string(dt));
    const QKTransformDesc d = make_desc(dt, 2, 3, 21, 40, kRms, rope_of(RopeStyle::kRotateHalf));
    Result<QKTransformPlan> plan = QKTransformPlan::create(ctx(), d);
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    Result<QKCase> c = QKCase::create(ctx(), d, rng);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    std::vector<float> dy = uniform_values(c->x.size(), rng);
    round_to_dtype(dy, dt);
    // Element (b, h, s, e) of the strided copies at 1 + ((b S + s) H + h) (D + 1) + e; the gaps hold
    // other random values.
    const std::int64_t row = d.head_dim + 1, n = 1 + d.batch * d.seq * d.heads * row;
    std::vector<float> x_big = uniform_values(static_cast<std::size_t>(n), rng), dy_big = x_big;
    for (std::int64_t b = 0; b < d.batch; ++b)
      for (std::int64_t h = 0; h < d.heads; ++h)
        for (std::int64_t t = 0; t < d.seq; ++t)
          for (std::int64_t e = 0; e < d.head_dim; ++e) {
            const std::size_t from = static_cast<std::size_t>(((b * d.heads + h) * d.seq + t) * d.head_dim + e);
            const std::size_t to = static_cast<std::size_t>(1 + ((b * d.seq + t) * d.heads + h) * row + e);
            x_big[to] = c->x[from];
            dy_big[to] = dy[from];
          }
    round_to_dtype(x_big, dt);
    round_to_dtype(dy_big, dt);
    Result<Tensor> xs = upload_values(ctx(), dt, x_big), dys = upload_values(ctx(), dt, dy_big), dyc = upload_values(ctx(), dt, dy);
    ASSERT_TRUE(xs.is_ok() && dys.is_ok() && dyc.is_ok());
    const auto strided = [&](const Tensor& t) {
      TensorView v = TensorView::contiguous(t.buffer(), t.size_bytes(), dt, {d.batch, d.heads, d.seq, d.head_dim});
      v.offset = dtype_size(dt);
      v.strides = {d.seq * d.heads * row, row, d.heads * row, 1};
      return v;
    };
    // The contiguous run, then the strided one into fresh (poisoned) outputs.
    Result<Tensor> y2 = Tensor::create_bytes(ctx(), c->x.size() * dtype_size(dt), dt);
    Result<Tensor> dx1 = Tensor::create_bytes(ctx(), c->x.size() * dtype_size(dt), dt);
    Result<Tensor> dx2 = Tensor::create_bytes(ctx(), c->x.size() * dtype_size(dt), dt);
    Result<Tensor> dw1 = Tensor::create(ctx(), F32, {d.head_dim}), dw2 = Tensor::create(ctx(), F32, {d.head_dim});
    ASSERT_TRUE(y2.is_ok() && dx1.is_ok() && dx2.is_ok() && dw1.is_ok() && dw2.is_ok());
    for (Tensor* t : {&*y2, &*dx1, &*dx2, &*dw1, &*dw2}) ASSERT_TRUE(t->fill(std::numeric_limits<float>::quiet_NaN()).is_ok());
    const QKTransformTensors f = c->tensors();
    ASSERT_TRUE(plan->run(f).is_ok());
    ASSERT_TRUE(plan->run_backward({f.x, rows_view(*dyc, d), rows_view(*dx1, d), f.weight, f.positions, dw1->view()}).is_ok());
    ASSERT_TRUE(plan->run({strided(*xs), rows_view(*y2, d), f.weight, f.positions}).is_ok());
    ASSERT_TRUE(plan->run_backward({strided(*xs), strided(*dys), rows_view(*dx2, d), f.weight, f.positions, dw2->view()}).is_ok());
    EXPECT_EQ(c->y_dev->download().value(), y2->download().value());
    EXPECT_EQ(dx1->download().value(), dx2->download().value());
    EXPECT_EQ(dw1->download().value(), dw2->download().value());
    // And the contiguous Y against the reference (the comparison above cannot pass on two wrong runs).
    expect_close(c->y_dev->download().value(), c->ref.forward(c->x_double()), transform_tolerance(dt), "Y");
  }
}

// The angle at positions up to 10^6 in fp32: rows rotated against the fp64 reference within 2e-6
// of the row's largest value (a rotation keeps lengths), for theta 10^4 and 10^6.
TEST_F(QKTransformTest, AnglesStayPreciseAtLargePositions) {
  std::mt19937_64 rng(test_seed());
  for (const double theta : {10000.0, 1000000.0}) {
    const QKTransformDesc d = make_desc(F32, 2, 1, 64, 128, kNoNorm, rope_of(RopeStyle::kRotateHalf, 0, true, {}, {}, theta));
    Result<QKTransformPlan> plan = QKTransformPlan::create(ctx(), d);
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    Result<QKCase> c = QKCase::create(ctx(), d, rng, 1000000);
    ASSERT_TRUE(c.is_ok());
    ASSERT_TRUE(plan->run(c->tensors()).is_ok());
    const std::vector<float> y = c->y_dev->download().value();
    const std::vector<double> ref = c->ref.forward(c->x_double());
    double worst = 0.0;
    for (std::size_t n = 0; n < y.size(); ++n) worst = std::max(worst, std::fabs(static_cast<double>(y[n]) - ref[n]));
    EXPECT_LT(worst, 2e-6) << "theta " << theta;
  }
}

// Central differences of L = sum(T(x) * dy) in fp64, against the GPU's dX and dweight (kRMS with
// RoPE, and kL2 with a scale).
TEST_F(QKTransformTest, GradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(test_seed());
  for (const QKTransformDesc& d : {make_desc(F32, 1, 2, 3, 16, kRms, rope_of(RopeStyle::kRotateHalf, 8)),
                                   make_desc(F32, 1, 1, 4, 8, kL2Scaled, rope_of(RopeStyle::kInterleaved))}) {
    Result<QKTransformPlan> plan = QKTransformPlan::create(ctx(), d);
    ASSERT_TRUE(plan.is_ok());
    Result<QKCase> c = QKCase::create(ctx(), d, rng);
    ASSERT_TRUE(c.is_ok());
    std::vector<float> dy = uniform_values(c->x.size(), rng);
    Result<Tensor> dy_dev = upload_values(ctx(), F32, dy);
    Result<Tensor> dx_dev = Tensor::create_bytes(ctx(), dy.size() * 4, F32);
    Result<Tensor> dw_dev = Tensor::create(ctx(), F32, {d.head_dim});
    ASSERT_TRUE(dy_dev.is_ok() && dx_dev.is_ok() && dw_dev.is_ok());
    const QKTransformTensors f = c->tensors();
    QKTransformGradTensors g{f.x, rows_view(*dy_dev, d), rows_view(*dx_dev, d), f.weight, f.positions, std::nullopt};
    if (d.norm.kind == QKNormKind::kRMS) g.dweight = dw_dev->view();
    ASSERT_TRUE(plan->run_backward(g).is_ok());
    RefQK ref = c->ref;
    std::vector<double> x = c->x_double();
    auto loss = [&]() {
      const std::vector<double> y = ref.forward(x);
      double l = 0.0;
      for (std::size_t n = 0; n < y.size(); ++n) l += y[n] * static_cast<double>(dy[n]);
      return l;
    };
    auto fd = [&](std::vector<double>& v) { return central_differences(v, loss); };
    const Tolerance tol{1e-5, 1e-4};
    expect_close(dx_dev->download().value(), fd(x), tol, "dX vs finite differences");
    if (g.dweight) expect_close(dw_dev->download().value(), fd(ref.weight), tol, "dweight vs finite differences");
  }
}

// In place (y = x, dx = dy) gives what a separate output gives, bit for bit; runs repeat bitwise.
TEST_F(QKTransformTest, InPlaceAndRepeatedRunsAreBitwiseEqual) {
  std::mt19937_64 rng(test_seed());
  const QKTransformDesc d = make_desc(F16, 2, 2, 24, 64, kRms, rope_of(RopeStyle::kRotateHalf));
  Result<QKTransformPlan> plan = QKTransformPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok());
  Result<QKCase> c = QKCase::create(ctx(), d, rng);
  ASSERT_TRUE(c.is_ok());
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  const std::vector<std::byte> apart = c->y_dev->download_bytes().value();
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  EXPECT_EQ(c->y_dev->download_bytes().value(), apart);
  QKTransformTensors in_place = c->tensors();
  in_place.y = in_place.x;
  ASSERT_TRUE(plan->run(in_place).is_ok());
  EXPECT_EQ(c->x_dev->download_bytes().value(), apart);
}

TEST_F(QKTransformTest, BadInputsAreRefusedAndNothingIsWritten) {
  std::mt19937_64 rng(test_seed());
  const QKTransformDesc good = make_desc(F32, 1, 2, 12, 32, kRms, rope_of(RopeStyle::kRotateHalf, 0, true));
  Result<QKCase> c = QKCase::create(ctx(), good, rng);
  ASSERT_TRUE(c.is_ok());
  const std::vector<std::vector<std::byte>> before = download_all({&*c->x_dev, &*c->y_dev, &*c->weight_dev, &*c->pos_dev});
  const auto refused = [&](QKTransformDesc d, const std::string& text) {
    Result<QKTransformPlan> p = QKTransformPlan::create(ctx(), d);
    ASSERT_FALSE(p.is_ok()) << text;
    EXPECT_NE(p.status().message().find(text), std::string::npos) << p.status().message();
  };
  QKTransformDesc d = good;
  d.norm.eps = 0.0f;
  refused(d, "desc.norm.eps = 0");
  d.norm.eps = std::numeric_limits<float>::quiet_NaN();
  refused(d, "desc.norm.eps = nan");
  d = good, d.rope.rotary_dim = 7;
  refused(d, "desc.rope.rotary_dim = 7");
  d = good, d.rope.rotary_dim = 40;
  refused(d, "desc.rope.rotary_dim = 40");
  d = good, d.rope.positions = false, d.rope.grid = {3, 4}, d.rope.axis_dims = {16, 8};
  refused(d, "desc.rope.axis_dims sum to 24, not the rotary dims 32");
  d.rope.axis_dims = {}, d.rope.grid = {5, 4};
  refused(d, "desc.rope.grid's extents multiply to 20, not desc.seq = 12");
  d = good, d.rope.theta = 0.5;
  refused(d, "desc.rope.theta = 0.5");
  d = good, d.head_dim = 20;
  refused(d, "desc.head_dim = 20");
  // RoPE's options without RoPE, a bad theta either way, and a malformed norm scale are refused.
  d = good, d.rope.style = RopeStyle::kNone, d.rope.positions = false, d.rope.rotary_dim = 16;
  refused(d, "desc.rope.rotary_dim = 16 without desc.rope.style");
  d.rope.rotary_dim = 0, d.rope.axis_dims = {16, 16};
  refused(d, "desc.rope.axis_dims is given without desc.rope.style");
  d.rope.axis_dims = {}, d.rope.theta = -5.0;
  refused(d, "desc.rope.theta = -5");
  d = good, d.norm.scale = std::numeric_limits<float>::quiet_NaN();
  refused(d, "desc.norm.scale = nan");
  // Each size within 2^28, their product past 2^31 rows (2^84: it would wrap around 64 bits).
  d = good, d.rope.positions = false, d.batch = d.heads = d.seq = std::int64_t{1} << 28;
  refused(d, "desc.batch = 268435456 * desc.heads = 268435456 * desc.seq = 268435456 exceeds 2^31 (rows)");

  Result<QKTransformPlan> plan = QKTransformPlan::create(ctx(), good);
  ASSERT_TRUE(plan.is_ok());
  Result<Tensor> w16 = Tensor::create(ctx(), F16, {32});
  Result<Tensor> w_short = Tensor::create(ctx(), F32, {31});
  Result<Tensor> pos_f = Tensor::create(ctx(), F32, {1, 12});
  Result<Tensor> pos_short = Tensor::create(ctx(), DType::kI32, {1, 11});
  ASSERT_TRUE(w16.is_ok() && w_short.is_ok() && pos_f.is_ok() && pos_short.is_ok());
  const auto call_refused = [&](QKTransformTensors t, const std::string& text) {
    const Status s = plan->run(t);
    ASSERT_FALSE(s.is_ok()) << text;
    EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
  };
  QKTransformTensors t = c->tensors();
  t.weight = w16->view();
  call_refused(t, "weight.dtype = f16");
  t.weight = w_short->view();
  call_refused(t, "weight.shape[0] (D) = 31");
  t = c->tensors();
  t.weight.reset();
  call_refused(t, "weight is missing");
  t = c->tensors();
  t.positions = pos_f->view();
  call_refused(t, "positions.dtype = f32");
  t.positions = pos_short->view();
  call_refused(t, "positions.shape[1] (S) = 11");
  t = c->tensors();
  // y over x's bytes but not x itself: refused (only the very same view runs in place).
  t.y = TensorView::contiguous(c->x_dev->buffer(), c->x_dev->size_bytes(), F32, {1, 2, 12, 32});
  t.y.strides = {768, 32, 64, 1};  // x's bytes in another order
  call_refused(t, "y (bytes 0..3072) overlaps x (bytes 0..3072)");
  EXPECT_EQ(download_all({&*c->x_dev, &*c->y_dev, &*c->weight_dev, &*c->pos_dev}), before);
}

}  // namespace
}  // namespace vkattn::test
