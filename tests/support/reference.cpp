#include "reference.hpp"

#include <cmath>
#include <limits>

namespace vkattn::test {

bool ref_key_visible(Causal causal, std::int64_t i, std::int64_t j, std::int64_t seq_q, std::int64_t seq_k) {
  switch (causal) {
    case Causal::kNone: return true;
    case Causal::kTopLeft: return j <= i;
    case Causal::kBottomRight: return j <= i + seq_k - seq_q;
  }
  return true;
}

RefResult reference_forward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v) {
  const std::int64_t D = p.head_dim;
  const double scale = p.scale != 0.0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(D));
  const std::int64_t group = p.q_heads / p.kv_heads;
  RefResult r;
  r.o.assign(static_cast<std::size_t>(p.batch * p.q_heads * p.seq_q * D), 0.0);
  r.lse.assign(static_cast<std::size_t>(p.batch * p.q_heads * p.seq_q), 0.0);
  std::vector<double> s(static_cast<std::size_t>(p.seq_k));
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t h = 0; h < p.q_heads; ++h) {
      const std::int64_t hk = h / group;
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        const float* qi = &q[static_cast<std::size_t>(((b * p.q_heads + h) * p.seq_q + i) * D)];
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          double& sj = s[static_cast<std::size_t>(j)];
          if (!ref_key_visible(p.causal, i, j, p.seq_q, p.seq_k)) {
            sj = -std::numeric_limits<double>::infinity();
            continue;
          }
          const float* kj = &k[static_cast<std::size_t>(((b * p.kv_heads + hk) * p.seq_k + j) * D)];
          double dot = 0.0;
          for (std::int64_t d = 0; d < D; ++d) dot += static_cast<double>(qi[d]) * static_cast<double>(kj[d]);
          sj = scale * dot;
          m = std::max(m, sj);
        }
        const std::size_t row = static_cast<std::size_t>((b * p.q_heads + h) * p.seq_q + i);
        if (std::isinf(m)) {  // no visible key: O = 0, LSE = -inf
          r.lse[row] = -std::numeric_limits<double>::infinity();
          continue;
        }
        double l = 0.0;
        double* oi = &r.o[row * static_cast<std::size_t>(D)];
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          const double pj = std::exp(s[static_cast<std::size_t>(j)] - m);
          if (pj == 0.0) continue;
          l += pj;
          const float* vj = &v[static_cast<std::size_t>(((b * p.kv_heads + hk) * p.seq_k + j) * D)];
          for (std::int64_t d = 0; d < D; ++d) oi[d] += pj * static_cast<double>(vj[d]);
        }
        for (std::int64_t d = 0; d < D; ++d) oi[d] /= l;
        r.lse[row] = m + std::log(l);
      }
    }
  }
  return r;
}

}  // namespace vkattn::test
