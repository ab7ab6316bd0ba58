// Strided views: Q, K, V as views into one fused [B, S, 3, H, D] buffer, channels-last spatial
// inputs [B, *spatial, H * D] with 1, 2 and 3 spatial axes, and tensors that each have their own
// layout (O with gaps between rows, which must stay untouched).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

// Logical [B, H, S, D] values read from `mem` through `index(b, h, s, d)`.
std::vector<float> logical(
    const std::vector<float>& mem, std::int64_t B, std::int64_t H, std::int64_t S, std::int64_t D,
    const std::function<std::int64_t(std::int64_t, std::int64_t, std::int64_t, std::int64_t)>& index) {
  std::vector<float> out;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t d = 0; d < D; ++d) out.push_back(mem[at(index(b, h, s, d))]);
  return out;
}

std::vector<float> random_values(std::size_t n, DType dtype, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  round_to_dtype(v, dtype);
  return v;
}

Tensor upload(Context& ctx, DType dtype, const std::vector<float>& values) {
  Result<Tensor> t = Tensor::create_bytes(ctx, values.size() * dtype_size(dtype), dtype);
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_TRUE(t->upload(values).is_ok());
  return std::move(t).value();
}

class LayoutTest : public VkTest, public ::testing::WithParamInterface<DType> {};

TEST_P(LayoutTest, QkvAreViewsIntoOneFusedBuffer) {
  const DType dtype = GetParam();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, S = 77, H = 3, D = 32;
  const std::vector<float> fused = random_values(at(B * S * 3 * H * D), dtype, rng);  // [B, S, 3, H, D]
  Tensor qkv = upload(ctx(), dtype, fused);
  Tensor o = upload(ctx(), dtype, std::vector<float>(at(B * H * S * D), std::nanf("")));
  Tensor lse = upload(ctx(), DType::kF32, std::vector<float>(at(B * H * S), std::nanf("")));
  const auto es = static_cast<VkDeviceSize>(dtype_size(dtype));
  auto part = [&](std::int64_t which) {  // which = 0, 1, 2 for Q, K, V
    TensorView v = TensorView::attention(qkv.buffer(), qkv.view().buffer_size, dtype, Layout::kBSHD, B, H, S, D,
                                         static_cast<VkDeviceSize>(which * H * D) * es);
    v.strides = {S * 3 * H * D, D, 3 * H * D, 1};
    return v;
  };
  ForwardTensors t{part(0), part(1), part(2), o.view(), lse.view()};
  t.o = TensorView::attention(o.buffer(), o.view().buffer_size, dtype, Layout::kBHSD, B, H, S, D);
  t.lse = TensorView::contiguous(lse.buffer(), lse.view().buffer_size, DType::kF32, {B, H, S});
  ASSERT_TRUE(attention_forward(ctx(), t, kCausalBR).is_ok());

  auto fused_at = [&](std::int64_t which) {
    return [=](std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
      return (((b * S + s) * 3 + which) * H + h) * D + d;
    };
  };
  RefProblem p;
  p.batch = B, p.q_heads = H, p.kv_heads = H, p.seq_q = S, p.seq_k = S, p.head_dim = D;
  p.mask = kCausalBR;
  const RefResult ref =
      reference_forward(p, logical(fused, B, H, S, D, fused_at(0)), logical(fused, B, H, S, D, fused_at(1)),
                        logical(fused, B, H, S, D, fused_at(2)));
  expect_close(o.download().value(), ref.o, output_tolerance(dtype), "O");
  expect_close(lse.download().value(), ref.lse, lse_tolerance(dtype), "LSE");
}

// [B, *spatial, H * D] with 1, 2, 3 spatial axes is BSHD with S = the product of the extents.
TEST_P(LayoutTest, ChannelsLastSpatialInputs) {
  const DType dtype = GetParam();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, H = 2, D = 16, C = H * D;
  const std::vector<std::vector<std::int64_t>> spatials = {{37}, {6, 7}, {3, 4, 5}};
  for (const auto& spatial : spatials) {
    SCOPED_TRACE("spatial rank " + std::to_string(spatial.size()));
    std::int64_t S = 1;
    for (std::int64_t e : spatial) S *= e;
    // Host arrays are [B, *spatial, C]; the flat spatial index is row-major over the axes.
    std::vector<std::vector<float>> mem;
    std::vector<Tensor> dev;
    for (int n = 0; n < 3; ++n) {
      mem.push_back(random_values(at(B * S * C), dtype, rng));
      dev.push_back(upload(ctx(), dtype, mem.back()));
    }
    dev.push_back(upload(ctx(), dtype, std::vector<float>(at(B * S * C), std::nanf(""))));  // O, channels-last too
    auto view = [&](const Tensor& t) {
      return TensorView::channels_last(t.buffer(), t.view().buffer_size, dtype, B, spatial, H, D);
    };
    ForwardTensors t{view(dev[0]), view(dev[1]), view(dev[2]), view(dev[3]), std::nullopt};
    ASSERT_TRUE(attention_forward(ctx(), t, Mask::window(5, 5)).is_ok());

    auto channels_last_at = [&](std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
      // Unflatten s into spatial coordinates, then flatten again in [B, *spatial, C] order.
      std::int64_t rest = s, flat = 0, stride = 1;
      for (std::size_t a = spatial.size(); a-- > 0;) {
        const std::int64_t coord = rest % spatial[a];
        rest /= spatial[a];
        flat += coord * stride;
        stride *= spatial[a];
      }
      return (b * S + flat) * C + h * D + d;
    };
    RefProblem p;
    p.batch = B, p.q_heads = H, p.kv_heads = H, p.seq_q = S, p.seq_k = S, p.head_dim = D;
    p.mask = Mask::window(5, 5);
    const RefResult ref =
        reference_forward(p, logical(mem[0], B, H, S, D, channels_last_at),
                          logical(mem[1], B, H, S, D, channels_last_at), logical(mem[2], B, H, S, D, channels_last_at));
    expect_close(logical(dev[3].download().value(), B, H, S, D, channels_last_at), ref.o, output_tolerance(dtype), "O");
  }
}

// Q BHSD, K BSHD, V SBHD and O with padded rows (gaps between rows and heads): every tensor
// brings its own strides, and the gaps of O are never written.
TEST_P(LayoutTest, EveryTensorHasItsOwnLayoutAndGapsStayUntouched) {
  const DType dtype = GetParam();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, Hq = 4, Hkv = 2, Sq = 45, Sk = 60, D = 32;
  const std::vector<float> q = random_values(at(B * Hq * Sq * D), dtype, rng);
  const std::vector<float> k = random_values(at(B * Hkv * Sk * D), dtype, rng);
  const std::vector<float> v = random_values(at(B * Hkv * Sk * D), dtype, rng);
  auto to_mem = [](const std::vector<float>& dense, const TensorView& view, std::size_t size, float fill) {
    std::vector<float> mem(size, fill);
    std::size_t n = 0;
    for (std::int64_t b = 0; b < view.shape[0]; ++b)
      for (std::int64_t h = 0; h < view.shape[1]; ++h)
        for (std::int64_t s = 0; s < view.shape[2]; ++s)
          for (std::int64_t d = 0; d < view.shape[3]; ++d)
            mem[at(b * view.strides[0] + h * view.strides[1] + s * view.strides[2] + d)] = dense[n++];
    return mem;
  };
  Tensor qd = upload(ctx(), dtype, q), kd = upload(ctx(), dtype, k), vd = upload(ctx(), dtype, v);
  TensorView qv = TensorView::attention(qd.buffer(), qd.view().buffer_size, dtype, Layout::kBHSD, B, Hq, Sq, D);
  TensorView kv = TensorView::attention(kd.buffer(), kd.view().buffer_size, dtype, Layout::kBSHD, B, Hkv, Sk, D);
  TensorView vv = TensorView::attention(vd.buffer(), vd.view().buffer_size, dtype, Layout::kSBHD, B, Hkv, Sk, D);
  ASSERT_TRUE(qd.upload(to_mem(q, qv, q.size(), 0.0f)).is_ok());
  ASSERT_TRUE(kd.upload(to_mem(k, kv, k.size(), 0.0f)).is_ok());
  ASSERT_TRUE(vd.upload(to_mem(v, vv, v.size(), 0.0f)).is_ok());
  // O: [B][S][H][D + 8] with 2 spare rows per batch: gaps hold a sentinel.
  const std::int64_t row = D + 8, tok = Hq * row, batch = (Sq + 2) * tok;
  const float sentinel = 7.25f;
  const std::size_t o_size = at(B * batch);
  Tensor od = upload(ctx(), dtype, std::vector<float>(o_size, sentinel));
  TensorView ov = TensorView::attention(od.buffer(), od.view().buffer_size, dtype, Layout::kBSHD, B, Hq, Sq, D);
  ov.strides = {batch, row, tok, 1};
  ASSERT_TRUE(od.upload(to_mem(std::vector<float>(at(B * Hq * Sq * D), std::nanf("")), ov, o_size, sentinel)).is_ok());
  ForwardTensors t{qv, kv, vv, ov, std::nullopt};
  ASSERT_TRUE(attention_forward(ctx(), t, kCausalTL).is_ok());

  RefProblem p;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = D;
  p.mask = kCausalTL;
  const RefResult ref = reference_forward(p, q, k, v);
  const std::vector<float> o_mem = od.download().value();
  std::vector<bool> in_view(o_size, false);
  std::vector<float> o_logical;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < Hq; ++h)
      for (std::int64_t s = 0; s < Sq; ++s)
        for (std::int64_t d = 0; d < D; ++d) {
          const std::size_t idx = at(b * batch + h * row + s * tok + d);
          in_view[idx] = true;
          o_logical.push_back(o_mem[idx]);
        }
  expect_close(o_logical, ref.o, output_tolerance(dtype), "O");
  std::size_t touched = 0;
  for (std::size_t i = 0; i < o_size; ++i) touched += !in_view[i] && o_mem[i] != sentinel ? 1u : 0u;
  EXPECT_EQ(touched, 0u) << "elements outside the O view were written";
}

// Rows off the 16-byte grid: Q at an odd element offset, K rows D + 2 elements apart, V aligned
// (a coopmat plan runs its general kernel), then all three at 8-element offsets with strides of
// multiples of 8 (its WIDE_ROWS kernel, 16-byte loads only). Both match the reference.
TEST_P(LayoutTest, RowsOnAndOffTheSixteenByteGrid) {
  const DType dtype = GetParam();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, H = 2, Sq = 37, Sk = 70, D = 32;
  const std::vector<float> q = random_values(at(B * H * Sq * D), dtype, rng);
  const std::vector<float> k = random_values(at(B * H * Sk * D), dtype, rng);
  const std::vector<float> v = random_values(at(B * H * Sk * D), dtype, rng);
  const auto elem = static_cast<std::int64_t>(dtype_size(dtype));
  // A BHSD view of `dense` at element `offset`, rows `row` elements apart, in a buffer of its own.
  std::vector<Tensor> keep;
  auto view_of = [&](const std::vector<float>& dense, std::int64_t S, std::int64_t offset, std::int64_t row) {
    const std::int64_t size = offset + B * H * S * row;
    std::vector<float> mem(at(size), 0.0f);
    for (std::int64_t i = 0; i < B * H * S; ++i)
      for (std::int64_t d = 0; d < D; ++d) mem[at(offset + i * row + d)] = dense[at(i * D + d)];
    keep.push_back(upload(ctx(), dtype, mem));
    TensorView t = TensorView::attention(keep.back().buffer(), keep.back().view().buffer_size, dtype, Layout::kBHSD, B,
                                         H, S, D, static_cast<VkDeviceSize>(offset * elem));
    t.strides = {H * S * row, S * row, row, 1};
    return t;
  };
  RefProblem p;
  p.batch = B, p.q_heads = H, p.kv_heads = H, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = D;
  p.mask = kCausalBR;
  const RefResult ref = reference_forward(p, q, k, v);
  const struct {
    const char* what;
    std::int64_t q_offset, k_row;
  } cases[] = {{"off the grid", 1, D + 2}, {"on the grid", 8, D + 8}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const TensorView qv = view_of(q, Sq, c.q_offset, D);
    const TensorView kv = view_of(k, Sk, 8, c.k_row);
    const TensorView vv = view_of(v, Sk, 8, D + 8);
    Tensor od = upload(ctx(), dtype, std::vector<float>(at(B * H * Sq * D), std::nanf("")));
    const TensorView ov = TensorView::attention(od.buffer(), od.view().buffer_size, dtype, Layout::kBHSD, B, H, Sq, D);
    ASSERT_TRUE(attention_forward(ctx(), ForwardTensors{qv, kv, vv, ov, std::nullopt}, kCausalBR).is_ok());
    expect_close(od.download().value(), ref.o, output_tolerance(dtype), "O");
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LayoutTest, ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& p) { return std::string(to_string(p.param)); });

}  // namespace
}  // namespace vkattn::test
