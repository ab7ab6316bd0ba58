#include "reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "support/philox_ref.hpp"

namespace vkattn::test {
namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }
}  // namespace

std::int64_t RefProblem::diag(std::int64_t b, std::int64_t i) const {
  return (mask.align == Align::kBottomRight ? i + lk(b) - lq(b) : i) + mask.q_offset - mask.k_offset;
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

double RefProblem::dropout_factor(std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) const {
  if (dropout_p == 0.0) return 1.0;
  // Kept with probability 1 - p', p' = p rounded down to a multiple of 2^-16 (vkattn/dropout.hpp),
  // and scaled by 1 / (1 - p').
  const double p_rounded = std::floor(dropout_p * 65536.0) / 65536.0;
  return ref_dropout_keep(dropout_seed, dropout_offset, dropout_p, q_heads, b, h, i, j) ? 1.0 / (1.0 - p_rounded) : 0.0;
}

namespace {

// Scores of row (b, h, i) after the score_mods, -inf where hidden; returns their max (with the
// sink). `dsoft[j]` receives the softcap's derivative at the raw score.
template <class T>
double row_scores(const RefProblem& p, std::int64_t b, std::int64_t h, std::int64_t i, const std::vector<T>& q,
                  const std::vector<T>& k, std::vector<double>& s, std::vector<double>& dsoft) {
  const std::int64_t Dk = p.head_dim;
  const double scale = p.scale != 0.0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(Dk));
  const std::int64_t hk = h / (p.q_heads / p.kv_heads);
  const std::int64_t M = p.mod.rel_pos_max_distance.value_or(0);
  const T* qi = &q[at(((b * p.q_heads + h) * p.seq_q + i) * Dk)];
  const std::int64_t dg = p.diag(b, i);
  double m = p.mod.sinks ? static_cast<double>(p.sinks[at(h)]) : kNegInf;
  s.assign(at(p.seq_k), kNegInf);
  dsoft.assign(at(p.seq_k), 1.0);
  for (std::int64_t j = 0; j < p.seq_k; ++j) {
    if (!p.visible(b, i, j)) continue;
    const T* kj = &k[at(((b * p.kv_heads + hk) * p.seq_k + j) * Dk)];
    double dot = 0.0;
    for (std::int64_t d = 0; d < Dk; ++d) dot += static_cast<double>(qi[d]) * static_cast<double>(kj[d]);
    double sj = scale * dot;
    if (p.mod.softcap) {
      const double c = *p.mod.softcap;
      const double t = std::tanh(sj / c);
      sj = c * t;
      dsoft[at(j)] = 1.0 - t * t;
    }
    if (p.mod.alibi != Alibi::kNone) {
      const std::int64_t slope_at = p.mod.alibi == Alibi::kPerBatchHead ? b * p.q_heads + h : h;
      sj -= static_cast<double>(p.slopes[at(slope_at)]) * static_cast<double>(std::llabs(j - dg));
    }
    if (p.mod.rel_pos_max_distance) {
      const std::int64_t bucket = std::clamp<std::int64_t>(j - dg, -M, M) + M;
      sj += static_cast<double>(p.table[at(h * (2 * M + 1) + bucket)]);
    }
    if (p.mod.bias) sj += p.bias[at(((b * p.q_heads + h) * p.seq_q + i) * p.seq_k + j)];
    s[at(j)] = sj;
    m = std::max(m, sj);
  }
  return m;
}

template <class T>
RefResult forward_impl(const RefProblem& p, const std::vector<T>& q, const std::vector<T>& k, const std::vector<T>& v) {
  const std::int64_t Dv = p.dv();
  const std::int64_t group = p.q_heads / p.kv_heads;
  RefResult r;
  r.o.assign(at(p.batch * p.q_heads * p.seq_q * Dv), 0.0);
  r.lse.assign(at(p.batch * p.q_heads * p.seq_q), kNegInf);
  std::vector<double> s, dsoft;
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t h = 0; h < p.q_heads; ++h) {
      const std::int64_t hk = h / group;
      for (std::int64_t i = 0; i < p.lq(b); ++i) {
        const double m = row_scores(p, b, h, i, q, k, s, dsoft);
        const std::size_t row = at((b * p.q_heads + h) * p.seq_q + i);
        if (std::isinf(m)) continue;  // nothing seen: O = 0, LSE = -inf
        double l = p.mod.sinks ? std::exp(static_cast<double>(p.sinks[at(h)]) - m) : 0.0;
        double* oi = &r.o[row * at(Dv)];
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          const double pj = std::exp(s[at(j)] - m);
          if (pj == 0.0) continue;
          l += pj;  // undropped: dropout leaves l and LSE alone
          const double pz = pj * p.dropout_factor(b, h, i, j);
          const T* vj = &v[at(((b * p.kv_heads + hk) * p.seq_k + j) * Dv)];
          for (std::int64_t d = 0; d < Dv; ++d) oi[d] += pz * static_cast<double>(vj[d]);
        }
        for (std::int64_t d = 0; d < Dv; ++d) oi[d] /= l;
        r.lse[row] = m + std::log(l);
      }
    }
  }
  return r;
}

}  // namespace

RefResult reference_forward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v) {
  return forward_impl(p, q, k, v);
}

RefResult reference_forward(const RefProblem& p, const std::vector<double>& q, const std::vector<double>& k,
                            const std::vector<double>& v) {
  return forward_impl(p, q, k, v);
}

RefGrads reference_backward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v, const std::vector<float>& d_o,
                            const std::vector<float>* o_as_stored) {
  const std::int64_t Dk = p.head_dim, Dv = p.dv();
  const double scale = p.scale != 0.0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(Dk));
  const std::int64_t group = p.q_heads / p.kv_heads;
  const RefResult fwd = forward_impl(p, q, k, v);
  RefGrads g;
  g.dq.assign(q.size(), 0.0);
  g.dk.assign(k.size(), 0.0);
  g.dv.assign(v.size(), 0.0);
  const std::int64_t M = p.mod.rel_pos_max_distance.value_or(0);
  if (p.mod.bias) g.dbias.assign(at(p.batch * p.q_heads * p.seq_q * p.seq_k), 0.0);
  if (p.mod.rel_pos_max_distance) g.dtable.assign(at(p.q_heads * (2 * M + 1)), 0.0);
  if (p.mod.sinks) g.dsinks.assign(at(p.q_heads), 0.0);
  g.dbias_terms.assign(g.dbias.size(), 0.0);
  g.dtable_terms.assign(g.dtable.size(), 0.0);
  g.dsinks_terms.assign(g.dsinks.size(), 0.0);
  g.dq_terms.assign(q.size(), 0.0);
  g.dk_terms.assign(k.size(), 0.0);
  std::vector<double> s, dsoft;
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t h = 0; h < p.q_heads; ++h) {
      const std::int64_t hk = h / group;
      for (std::int64_t i = 0; i < p.lq(b); ++i) {
        const std::size_t row = at((b * p.q_heads + h) * p.seq_q + i);
        const double lse = fwd.lse[row];
        if (std::isinf(lse)) continue;  // nothing seen: no gradient
        row_scores(p, b, h, i, q, k, s, dsoft);
        const float* doi = &d_o[row * at(Dv)];
        double delta = 0.0;      // rowsum(dO o O)
        double delta_mag = 0.0;  // rowsum |dO o O|
        for (std::int64_t d = 0; d < Dv; ++d) {
          const std::size_t idx = row * at(Dv) + at(d);
          const double t =
              static_cast<double>(doi[d]) * (o_as_stored ? static_cast<double>((*o_as_stored)[idx]) : fwd.o[idx]);
          delta += t;
          delta_mag += std::fabs(t);
        }
        const float* qi = &q[row * at(Dk)];
        // O has no sink term: dL/dsink = -P_sink * (dO . O).
        if (p.mod.sinks) {
          const double p_sink = std::exp(p.sinks[at(h)] - lse);
          g.dsinks[at(h)] -= p_sink * delta;
          g.dsinks_terms[at(h)] += p_sink * delta_mag;
        }
        const std::int64_t dg = p.diag(b, i);
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          if (std::isinf(s[at(j)])) continue;
          const double pj = std::exp(s[at(j)] - lse);
          const std::size_t kv_row = at((b * p.kv_heads + hk) * p.seq_k + j);
          const float* vj = &v[kv_row * at(Dv)];
          const float* kj = &k[kv_row * at(Dk)];
          double dp = 0.0;
          double dp_mag = 0.0;
          for (std::int64_t d = 0; d < Dv; ++d) {
            const double t = static_cast<double>(doi[d]) * static_cast<double>(vj[d]);
            dp += t;
            dp_mag += std::fabs(t);
          }
          // Dropout: O holds P_ij z_ij v_j, so dL/dP_ij = z_ij dO_i . v_j and dV_j gets P_ij z_ij dO_i.
          const double z = p.dropout_factor(b, h, i, j);
          const double ds = pj * (z * dp - delta);  // dL/ds
          const double ds_mag = pj * (z * dp_mag + delta_mag);
          const double gx = ds * dsoft[at(j)] * scale;  // dL/d(q.k)
          const double gx_mag = ds_mag * std::fabs(dsoft[at(j)] * scale);
          if (p.mod.bias) {
            g.dbias[row * at(p.seq_k) + at(j)] = ds;
            g.dbias_terms[row * at(p.seq_k) + at(j)] = ds_mag;
          }
          if (p.mod.rel_pos_max_distance) {
            const std::size_t bucket = at(h * (2 * M + 1) + std::clamp<std::int64_t>(j - dg, -M, M) + M);
            g.dtable[bucket] += ds;
            g.dtable_terms[bucket] += ds_mag;
          }
          for (std::int64_t d = 0; d < Dv; ++d) g.dv[kv_row * at(Dv) + at(d)] += pj * z * static_cast<double>(doi[d]);
          for (std::int64_t d = 0; d < Dk; ++d) {
            g.dq[row * at(Dk) + at(d)] += gx * static_cast<double>(kj[d]);
            g.dk[kv_row * at(Dk) + at(d)] += gx * static_cast<double>(qi[d]);
            g.dq_terms[row * at(Dk) + at(d)] += gx_mag * std::fabs(static_cast<double>(kj[d]));
            g.dk_terms[kv_row * at(Dk) + at(d)] += gx_mag * std::fabs(static_cast<double>(qi[d]));
          }
        }
      }
    }
  }
  return g;
}

}  // namespace vkattn::test
