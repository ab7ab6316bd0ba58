#include "backward_case.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace vkattn::test {

Result<BackwardCase> BackwardCase::create(Context& ctx, CaseShape shape, std::mt19937_64& rng) {
  shape.with_lse = true;
  Result<AttentionCase> f = AttentionCase::create(ctx, shape, rng);
  if (!f) return f.status();
  BackwardCase c{std::move(f).value(), {}, {}, {}, {}, {}};
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
  if (Status s = c.poison(); !s) return s;
  return c;
}

Status BackwardCase::poison() {
  for (Tensor* t : {&*dq_dev, &*dk_dev, &*dv_dev}) VKATTN_TEST_TRY(t->fill(std::nanf("")));
  return Status::ok();
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
  t.doc_ids_q = f.doc_ids_q, t.doc_ids_kv = f.doc_ids_kv;
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
  const RefGrads ref = reference_backward(c.fwd.ref, c.fwd.q, c.fwd.k, c.fwd.v, c.d_o);
  const Tolerance tol = gradient_tolerance(c.fwd.shape.dtype);
  expect_close(c.download(*c.dq_dev, Role::kQ), ref.dq, tol, "dQ");
  expect_close(c.download(*c.dk_dev, Role::kK), ref.dk, tol, "dK");
  expect_close(c.download(*c.dv_dev, Role::kV), ref.dv, tol, "dV");
}

void check_backward_case(Context& ctx, const CaseShape& shape) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed) + " case " + shape.name());
  std::mt19937_64 rng(seed);
  Result<BackwardCase> c = BackwardCase::create(ctx, shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  run_backward_and_compare(ctx, *c);
}

}  // namespace vkattn::test
