#include "reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace vkattn::test {
namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }
}  // namespace

std::int64_t RefProblem::diag(std::int64_t b, std::int64_t i) const {
  return mask.align == Align::kBottomRight ? i + lk(b) - lq(b) : i;
}

bool RefProblem::visible(std::int64_t b, std::int64_t i, std::int64_t j) const {
  if (i >= lq(b) || j >= lk(b)) return false;
  const std::int64_t dg = diag(b, i);
  if (mask.causal && j > dg) return false;
  if (mask.window_left && j < dg - *mask.window_left) return false;
  if (mask.window_right && j > dg + *mask.window_right) return false;
  if (mask.documents && doc_q[at(b * seq_q + i)] != doc_k[at(b * seq_k + j)]) return false;
  return true;
}

RefResult reference_forward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v) {
  const std::int64_t Dk = p.head_dim, Dv = p.dv();
  const double scale = p.scale != 0.0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(Dk));
  const std::int64_t group = p.q_heads / p.kv_heads;
  const std::int64_t M = p.mod.rel_pos_max_distance.value_or(0);
  RefResult r;
  r.o.assign(at(p.batch * p.q_heads * p.seq_q * Dv), 0.0);
  r.lse.assign(at(p.batch * p.q_heads * p.seq_q), kNegInf);
  std::vector<double> s(at(p.seq_k));
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t h = 0; h < p.q_heads; ++h) {
      const std::int64_t hk = h / group;
      for (std::int64_t i = 0; i < p.lq(b); ++i) {
        const float* qi = &q[at(((b * p.q_heads + h) * p.seq_q + i) * Dk)];
        const std::int64_t dg = p.diag(b, i);
        double m = p.mod.sinks ? static_cast<double>(p.sinks[at(h)]) : kNegInf;
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          double& sj = s[at(j)];
          sj = kNegInf;
          if (!p.visible(b, i, j)) continue;
          const float* kj = &k[at(((b * p.kv_heads + hk) * p.seq_k + j) * Dk)];
          double dot = 0.0;
          for (std::int64_t d = 0; d < Dk; ++d) dot += static_cast<double>(qi[d]) * static_cast<double>(kj[d]);
          sj = scale * dot;
          if (p.mod.softcap) {
            const double c = *p.mod.softcap;
            sj = c * std::tanh(sj / c);
          }
          if (p.mod.alibi != Alibi::kNone) {
            const std::int64_t slope_at = p.mod.alibi == Alibi::kPerBatchHead ? b * p.q_heads + h : h;
            sj -= static_cast<double>(p.slopes[at(slope_at)]) * static_cast<double>(std::llabs(j - dg));
          }
          if (p.mod.rel_pos_max_distance) {
            const std::int64_t bucket = std::clamp<std::int64_t>(j - dg, -M, M) + M;
            sj += static_cast<double>(p.table[at(h * (2 * M + 1) + bucket)]);
          }
          if (p.mod.bias) sj += static_cast<double>(p.bias[at(((b * p.q_heads + h) * p.seq_q + i) * p.seq_k + j)]);
          m = std::max(m, sj);
        }
        const std::size_t row = at((b * p.q_heads + h) * p.seq_q + i);
        if (std::isinf(m)) continue;  // nothing seen: O = 0, LSE = -inf
        double l = p.mod.sinks ? std::exp(static_cast<double>(p.sinks[at(h)]) - m) : 0.0;
        double* oi = &r.o[row * at(Dv)];
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          const double pj = std::exp(s[at(j)] - m);
          if (pj == 0.0) continue;
          l += pj;
          const float* vj = &v[at(((b * p.kv_heads + hk) * p.seq_k + j) * Dv)];
          for (std::int64_t d = 0; d < Dv; ++d) oi[d] += pj * static_cast<double>(vj[d]);
        }
        for (std::int64_t d = 0; d < Dv; ++d) oi[d] /= l;
        r.lse[row] = m + std::log(l);
      }
    }
  }
  return r;
}

}  // namespace vkattn::test
