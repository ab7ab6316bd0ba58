#include "backward_case.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace vkattn::test {

Result<BackwardCase> BackwardCase::create(Context& ctx, CaseShape shape, std::mt19937_64& rng) {
  shape.with_lse = true;
  Result<AttentionCase> f = AttentionCase::create(ctx, shape, rng);
  if (!f) return f.status();
  BackwardCase c{std::move(f).value(), {}, {}, {}, {}, {}, {}, {}, {}};
  Result<ForwardPlan> plan = ForwardPlan::create(ctx, c.fwd.desc());
  if (!plan) return plan.status();
  if (Status s = plan->run(c.fwd.tensors()); !s) return s;

  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  c.d_o.resize(c.fwd.q.size() / static_cast<std::size_t>(shape.head_dim) * static_cast<std::size_t>(c.fwd.ref.dv()));
  for (float& x : c.d_o) x = dist(rng);
  round_to_dtype(c.d_o, shape.dtype);
  Result<Tensor> d_o = c.fwd.device_tensor(ctx, c.d_o, Role::kO);
  Result<Tensor> dq = c.fwd.device_tensor(ctx, c.fwd.q, Role::kQ);
  Result<Tensor> dk = c.fwd.device_tensor(ctx, c.fwd.k, Role::kK);
  Result<Tensor> dv = c.fwd.device_tensor(ctx, c.fwd.v, Role::kV);
  for (auto* r : {&d_o, &dq, &dk, &dv}) {
    if (!*r) return r->status();
  }
  c.do_dev = std::move(d_o).value();
  c.dq_dev = std::move(dq).value();
  c.dk_dev = std::move(dk).value();
  c.dv_dev = std::move(dv).value();
  auto fp32 = [&](std::initializer_list<std::int64_t> shape_of, std::optional<Tensor>& into) -> Status {
    Result<Tensor> t = Tensor::create(ctx, DType::kF32, shape_of);
    if (!t) return t.status();
    into = std::move(t).value();
    return Status::ok();
  };
  const std::int64_t B = shape.batch, Hq = shape.q_heads;
  if (shape.mod.bias) {
    VKATTN_TEST_TRY(fp32(
        {shape.bias_full[0] ? B : 1, shape.bias_full[1] ? Hq : 1, shape.bias_full[2] ? shape.seq_q : 1, shape.seq_k},
        c.dbias_dev));
  }
  if (shape.mod.rel_pos_max_distance)
    VKATTN_TEST_TRY(fp32({Hq, 2 * *shape.mod.rel_pos_max_distance + 1}, c.dtable_dev));
  if (shape.mod.sinks) VKATTN_TEST_TRY(fp32({Hq}, c.dsinks_dev));
  if (Status s = c.poison(); !s) return s;
  return c;
}

Status BackwardCase::poison() {
  for (std::optional<Tensor>* t : {&dq_dev, &dk_dev, &dv_dev, &dbias_dev, &dtable_dev, &dsinks_dev}) {
    if (t->has_value()) VKATTN_TEST_TRY((*t)->fill(std::nanf("")));
  }
  return Status::ok();
}

std::vector<double> BackwardCase::reduce_dbias(const std::vector<double>& full) const {
  const CaseShape& c = fwd.shape;
  const std::int64_t bb = c.bias_full[0] ? c.batch : 1, bh = c.bias_full[1] ? c.q_heads : 1;
  const std::int64_t bs = c.bias_full[2] ? c.seq_q : 1, Sk = c.seq_k;
  std::vector<double> out(static_cast<std::size_t>(bb * bh * bs * Sk), 0.0);
  for (std::int64_t b = 0; b < c.batch; ++b)
    for (std::int64_t h = 0; h < c.q_heads; ++h)
      for (std::int64_t i = 0; i < c.seq_q; ++i)
        for (std::int64_t j = 0; j < Sk; ++j)
          out[static_cast<std::size_t>((((bb > 1 ? b : 0) * bh + (bh > 1 ? h : 0)) * bs + (bs > 1 ? i : 0)) * Sk +
                                       j)] +=
              full[static_cast<std::size_t>(((b * c.q_heads + h) * c.seq_q + i) * Sk + j)];
  return out;
}

BackwardTensors BackwardCase::tensors() const {
  const ForwardTensors f = fwd.tensors();
  BackwardTensors t;
  t.q = f.q, t.k = f.k, t.v = f.v, t.o = f.o, t.lse = *f.lse;
  t.d_o = fwd.view_of(*do_dev, Role::kO);
  t.dq = fwd.view_of(*dq_dev, Role::kQ);
  t.dk = fwd.view_of(*dk_dev, Role::kK);
  t.dv = fwd.view_of(*dv_dev, Role::kV);
  t.bias = f.bias, t.alibi_slopes = f.alibi_slopes, t.rel_pos_table = f.rel_pos_table, t.sinks = f.sinks;
  t.dropout = f.dropout;
  t.doc_ids_q = f.doc_ids_q, t.doc_ids_kv = f.doc_ids_kv;
  if (dbias_dev) {
    t.dbias = *t.bias;
    t.dbias->buffer = dbias_dev->buffer(), t.dbias->buffer_size = dbias_dev->view().buffer_size;
    t.dbias->dtype = DType::kF32, t.dbias->offset = 0;
  }
  if (dtable_dev) t.drel_pos_table = dtable_dev->view();
  if (dsinks_dev) t.dsinks = dsinks_dev->view();
  return t;
}

std::vector<float> BackwardCase::download(const Tensor& t, Role role) const {
  Result<std::vector<float>> mem = t.download();
  EXPECT_TRUE(mem.is_ok()) << mem.status().to_string();
  return mem ? fwd.to_dense(*mem, role) : std::vector<float>{};
}

void run_backward_and_compare(Context& ctx, BackwardCase& c, BackwardOptions options) {
  Result<BackwardPlan> plan = BackwardPlan::create(ctx, c.fwd.desc(), options);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  Status s = plan->run(c.tensors());
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  compare_backward(c);
}

void compare_backward(const BackwardCase& c) {
  const std::vector<float> o_stored = c.fwd.download_o();  // what the kernels read for D
  const RefGrads ref = reference_backward(c.fwd.ref, c.fwd.q, c.fwd.k, c.fwd.v, c.d_o, &o_stored);
  const Tolerance tol = gradient_tolerance(c.fwd.shape.dtype);
  // dQ and dK are sums of dS, which may cancel to exactly 0 (rows that see one key): each element
  // is also allowed a fraction of its terms' magnitudes. dV sums P dO, which does not cancel.
  const Tolerance qk_tol = qk_gradient_tolerance(c.fwd.shape.dtype);
  expect_close(c.download(*c.dq_dev, Role::kQ), ref.dq, ref.dq_terms, qk_tol, "dQ");
  expect_close(c.download(*c.dk_dev, Role::kK), ref.dk, ref.dk_terms, qk_tol, "dK");
  expect_close(c.download(*c.dv_dev, Role::kV), ref.dv, tol, "dV");
  // fp32 outputs, but sums of many dS computed from O as stored (rounded to fp16 for fp16 cases),
  // whose terms cancel: each element is also allowed a fraction of its terms' magnitudes.
  const Tolerance param_tol = param_gradient_tolerance(c.fwd.shape.dtype);
  if (c.dbias_dev)
    expect_close(c.dbias_dev->download().value(), c.reduce_dbias(ref.dbias), c.reduce_dbias(ref.dbias_terms), param_tol,
                 "dbias");
  if (c.dtable_dev)
    expect_close(c.dtable_dev->download().value(), ref.dtable, ref.dtable_terms, param_tol, "drel_pos_table");
  if (c.dsinks_dev) expect_close(c.dsinks_dev->download().value(), ref.dsinks, ref.dsinks_terms, param_tol, "dsinks");
}

void check_backward_case(Context& ctx, const CaseShape& shape) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed) + " case " + shape.name());
  std::mt19937_64 rng(seed);
  Result<BackwardCase> c = BackwardCase::create(ctx, shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  run_backward_and_compare(ctx, *c);
}

double reference_loss(const BackwardCase& c, const RefProblem& rp, const std::vector<double>& q,
                      const std::vector<double>& k, const std::vector<double>& v) {
  const RefResult r = reference_forward(rp, q, k, v);
  double l = 0.0;
  for (std::size_t n = 0; n < r.o.size(); ++n) l += r.o[n] * static_cast<double>(c.d_o[n]);
  return l;
}

std::vector<double> central_differences(std::vector<double>& x, const std::function<double()>& loss) {
  std::vector<double> g(x.size());
  const double h = 1e-6;
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double x0 = x[n];
    x[n] = x0 + h;
    const double up = loss();
    x[n] = x0 - h;
    const double down = loss();
    x[n] = x0;
    g[n] = (up - down) / (2 * h);
  }
  return g;
}

}  // namespace vkattn::test
