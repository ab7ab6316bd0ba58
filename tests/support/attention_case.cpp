#include "attention_case.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace vkattn::test {
namespace {

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kBHSD: return "bhsd";
    case Layout::kBSHD: return "bshd";
    case Layout::kSBHD: return "sbhd";
  }
  return "?";
}

// Memory index of logical [b, h, s, d] in `view`.
std::size_t mem_index(const TensorView& view, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  return static_cast<std::size_t>(b * view.strides[0] + h * view.strides[1] + s * view.strides[2] + d * view.strides[3]);
}

// Dense [B, H, S, D] -> memory order of `view`.
std::vector<float> scatter(const std::vector<float>& dense, const TensorView& view) {
  std::vector<float> mem(dense.size());
  std::size_t n = 0;
  for (std::int64_t b = 0; b < view.shape[0]; ++b)
    for (std::int64_t h = 0; h < view.shape[1]; ++h)
      for (std::int64_t s = 0; s < view.shape[2]; ++s)
        for (std::int64_t d = 0; d < view.shape[3]; ++d) mem[mem_index(view, b, h, s, d)] = dense[n++];
  return mem;
}

std::vector<float> gather(const std::vector<float>& mem, const TensorView& view) {
  std::vector<float> dense;
  dense.reserve(mem.size());
  for (std::int64_t b = 0; b < view.shape[0]; ++b)
    for (std::int64_t h = 0; h < view.shape[1]; ++h)
      for (std::int64_t s = 0; s < view.shape[2]; ++s)
        for (std::int64_t d = 0; d < view.shape[3]; ++d) dense.push_back(mem[mem_index(view, b, h, s, d)]);
  return dense;
}

Result<Tensor> make_4d(Context& ctx, DType dtype, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  return Tensor::create_bytes(ctx, static_cast<VkDeviceSize>(b * h * s * d) * dtype_size(dtype), dtype);
}

TensorView view_4d(const Tensor& t, const CaseShape& c, std::int64_t h, std::int64_t s) {
  return TensorView::attention(t.buffer(), t.view().buffer_size, c.dtype, c.layout, c.batch, h, s, c.head_dim);
}

}  // namespace

std::uint64_t test_seed() {
  if (const char* env = std::getenv("VKATTN_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

std::string CaseShape::name() const {
  std::ostringstream s;
  s << "b" << batch << "_h" << q_heads << "x" << kv_heads << "_sq" << seq_q << "_sk" << seq_k << "_d" << head_dim << "_"
    << to_string(dtype) << "_" << (causal == Causal::kNone ? "nomask" : to_string(causal)) << "_" << layout_name(layout)
    << (with_lse ? "" : "_nolse");
  return s.str();
}

void round_to_dtype(std::vector<float>& values, DType dtype) {
  if (dtype != DType::kF16) return;
  for (float& x : values) x = half_to_float(float_to_half(x));
}

Result<AttentionCase> AttentionCase::create(Context& ctx, const CaseShape& c, std::mt19937_64& rng) {
  AttentionCase a;
  a.shape = c;
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, std::int64_t n) {
    x.resize(static_cast<std::size_t>(n));
    for (float& e : x) e = dist(rng);
    round_to_dtype(x, c.dtype);
  };
  fill(a.q, c.batch * c.q_heads * c.seq_q * c.head_dim);
  fill(a.k, c.batch * c.kv_heads * c.seq_k * c.head_dim);
  fill(a.v, c.batch * c.kv_heads * c.seq_k * c.head_dim);

  auto q = make_4d(ctx, c.dtype, c.batch, c.q_heads, c.seq_q, c.head_dim);
  auto k = make_4d(ctx, c.dtype, c.batch, c.kv_heads, c.seq_k, c.head_dim);
  auto v = make_4d(ctx, c.dtype, c.batch, c.kv_heads, c.seq_k, c.head_dim);
  auto o = make_4d(ctx, c.dtype, c.batch, c.q_heads, c.seq_q, c.head_dim);
  for (auto* r : {&q, &k, &v, &o}) {
    if (!*r) return r->status();
  }
  a.q_dev = std::move(q).value();
  a.k_dev = std::move(k).value();
  a.v_dev = std::move(v).value();
  a.o_dev = std::move(o).value();
  const float nan = std::nanf("");
  Status s = a.q_dev->upload(scatter(a.q, view_4d(*a.q_dev, c, c.q_heads, c.seq_q)));
  if (s) s = a.k_dev->upload(scatter(a.k, view_4d(*a.k_dev, c, c.kv_heads, c.seq_k)));
  if (s) s = a.v_dev->upload(scatter(a.v, view_4d(*a.v_dev, c, c.kv_heads, c.seq_k)));
  if (s) s = a.o_dev->fill(nan);
  if (!s) return s;
  if (c.with_lse) {
    auto lse = Tensor::create(ctx, DType::kF32, {c.batch, c.q_heads, c.seq_q});
    if (!lse) return lse.status();
    a.lse_dev = std::move(lse).value();
    Status ls = a.lse_dev->fill(nan);
    if (!ls) return ls;
  }
  return a;
}

ForwardTensors AttentionCase::tensors() const {
  const CaseShape& c = shape;
  ForwardTensors t;
  t.q = view_4d(*q_dev, c, c.q_heads, c.seq_q);
  t.k = view_4d(*k_dev, c, c.kv_heads, c.seq_k);
  t.v = view_4d(*v_dev, c, c.kv_heads, c.seq_k);
  t.o = view_4d(*o_dev, c, c.q_heads, c.seq_q);
  if (lse_dev) t.lse = lse_dev->view();
  return t;
}

AttentionDesc AttentionCase::desc() const {
  AttentionDesc d = describe(tensors(), Mask{shape.causal});
  return d;
}

RefProblem AttentionCase::ref_problem() const {
  RefProblem p;
  p.batch = shape.batch;
  p.q_heads = shape.q_heads;
  p.kv_heads = shape.kv_heads;
  p.seq_q = shape.seq_q;
  p.seq_k = shape.seq_k;
  p.head_dim = shape.head_dim;
  p.causal = shape.causal;
  return p;
}

std::vector<float> AttentionCase::download_o() const {
  Result<std::vector<float>> mem = o_dev->download();
  EXPECT_TRUE(mem.is_ok()) << mem.status().to_string();
  if (!mem) return {};
  return gather(mem.value(), tensors().o);
}

std::vector<float> AttentionCase::download_lse() const {
  Result<std::vector<float>> mem = lse_dev->download();
  EXPECT_TRUE(mem.is_ok()) << mem.status().to_string();
  return mem ? mem.value() : std::vector<float>{};
}

std::size_t expect_close(const std::vector<float>& gpu, const std::vector<double>& ref, Tolerance tol,
                         const std::string& what) {
  if (gpu.size() != ref.size()) {
    ADD_FAILURE() << what << ": " << gpu.size() << " values, reference has " << ref.size();
    return ref.size();
  }
  std::size_t bad = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    const double g = gpu[i];
    const double r = ref[i];
    bool ok;
    if (std::isinf(r)) {
      ok = g == r;
    } else {
      const double err = std::fabs(g - r);
      ok = std::isfinite(g) && err <= tol.abs + tol.rel * std::fabs(r);
      if (std::isfinite(g)) worst = std::max(worst, err);
    }
    if (!ok && ++bad <= 5) ADD_FAILURE() << what << "[" << i << "] = " << g << ", reference " << r;
  }
  if (bad > 0) ADD_FAILURE() << what << ": " << bad << " of " << gpu.size() << " elements out of tolerance (abs "
                             << tol.abs << ", rel " << tol.rel << "), worst finite error " << worst;
  return bad;
}

}  // namespace vkattn::test
