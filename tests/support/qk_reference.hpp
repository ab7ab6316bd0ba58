// The fp64 reference of QK-norm and RoPE (vkattn/qk_transform.hpp), written from the header's
// definitions: the forward and its backward by the chain rule, on dense [B, H, S, D] rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "vkattn/qk_transform.hpp"

namespace vkattn::test {

// The transform of one problem: rows of x ([B, H, S, D] dense), the weight, positions.
struct RefQK {
  QKTransformDesc d;
  std::vector<double> weight;       // [D] (kRMS)
  std::vector<std::int32_t> pos;    // [B, S] (rope.positions)

  std::int64_t rotary() const { return d.rope.rotary_dim != 0 ? d.rope.rotary_dim : d.head_dim; }

  // Pairs (a, b, axis, frequency) as the header defines them; axis -1: not rotated.
  struct Pair {
    std::int64_t a, b;
    int axis;
    double f;
  };
  std::vector<Pair> pairs() const {
    std::vector<Pair> out;
    std::int64_t at = 0;
    if (d.rope.style != RopeStyle::kNone) {
      std::vector<std::int64_t> chunks = rope_axis_dims(d.rope, d.head_dim);
      if (chunks.empty()) chunks = {rotary()};
      for (std::size_t axis = 0; axis < chunks.size(); ++axis) {
        const std::int64_t len = chunks[axis], half = len / 2;
        for (std::int64_t i = 0; i < half; ++i) {
          const double f = std::pow(d.rope.theta, -2.0 * static_cast<double>(i) / static_cast<double>(len));
          if (d.rope.style == RopeStyle::kRotateHalf) {
            out.push_back({at + i, at + i + half, static_cast<int>(axis), f});
          } else {
            out.push_back({at + 2 * i, at + 2 * i + 1, static_cast<int>(axis), f});
          }
        }
        at += len;
      }
    }
    for (std::int64_t e = at; e < d.head_dim; e += 2) out.push_back({e, e + 1, -1, 0.0});
    return out;
  }

  double coordinate(std::int64_t b, std::int64_t s, int axis) const {
    if (d.rope.grid.empty()) {
      return d.rope.positions ? static_cast<double>(pos[static_cast<std::size_t>(b * d.seq + s)])
                              : static_cast<double>(s + d.rope.position_offset);
    }
    std::int64_t stride = 1;
    for (std::size_t a = d.rope.grid.size(); a-- > static_cast<std::size_t>(axis) + 1;) stride *= d.rope.grid[a];
    return static_cast<double>((s / stride) % d.rope.grid[static_cast<std::size_t>(axis)]);
  }

  // y = T(x) for every row; r_out[row] = the norm's r (1 without a norm).
  std::vector<double> forward(const std::vector<double>& x, std::vector<double>* r_out = nullptr) const {
    const std::int64_t D = d.head_dim, rows = d.batch * d.heads * d.seq;
    std::vector<double> y(x.size());
    const std::vector<Pair> ps = pairs();
    for (std::int64_t row = 0; row < rows; ++row) {
      const double* xr = &x[static_cast<std::size_t>(row * D)];
      double* yr = &y[static_cast<std::size_t>(row * D)];
      double sq = 0.0;
      for (std::int64_t e = 0; e < D; ++e) sq += xr[e] * xr[e];
      double r = 1.0, gain = 1.0;
      if (d.norm.kind == QKNormKind::kRMS) r = std::sqrt(sq / static_cast<double>(D) + static_cast<double>(d.norm.eps));
      if (d.norm.kind == QKNormKind::kL2) {
        r = std::max(std::sqrt(sq), static_cast<double>(d.norm.eps));
        gain = static_cast<double>(d.norm.scale);
      }
      if (r_out) r_out->push_back(r);
      for (std::int64_t e = 0; e < D; ++e) {
        yr[e] = xr[e] / r * gain * (d.norm.kind == QKNormKind::kRMS ? weight[static_cast<std::size_t>(e)] : 1.0);
      }
      const std::int64_t s = row % d.seq, b = row / (d.seq * d.heads);
      for (const Pair& p : ps) {
        if (p.axis < 0) continue;
        const double phi = coordinate(b, s, p.axis) * p.f, c = std::cos(phi), sn = std::sin(phi);
        const double na = yr[p.a], nb = yr[p.b];
        yr[p.a] = na * c - nb * sn;
        yr[p.b] = na * sn + nb * c;
      }
    }
    return y;
  }

  // dx and dweight for dy, by the chain rule written out.
  void backward(const std::vector<double>& x, const std::vector<double>& dy, std::vector<double>& dx,
                std::vector<double>& dweight) const {
    const std::int64_t D = d.head_dim, rows = d.batch * d.heads * d.seq;
    dx.assign(x.size(), 0.0);
    dweight.assign(static_cast<std::size_t>(D), 0.0);
    const std::vector<Pair> ps = pairs();
    std::vector<double> dn(static_cast<std::size_t>(D));
    for (std::int64_t row = 0; row < rows; ++row) {
      const double* xr = &x[static_cast<std::size_t>(row * D)];
      const double* gr = &dy[static_cast<std::size_t>(row * D)];
      for (std::int64_t e = 0; e < D; ++e) dn[static_cast<std::size_t>(e)] = gr[e];
      const std::int64_t s = row % d.seq, b = row / (d.seq * d.heads);
      for (const Pair& p : ps) {  // rotate back
        if (p.axis < 0) continue;
        const double phi = coordinate(b, s, p.axis) * p.f, c = std::cos(phi), sn = std::sin(phi);
        const double ga = gr[p.a], gb = gr[p.b];
        dn[static_cast<std::size_t>(p.a)] = ga * c + gb * sn;
        dn[static_cast<std::size_t>(p.b)] = -ga * sn + gb * c;
      }
      double sq = 0.0;
      for (std::int64_t e = 0; e < D; ++e) sq += xr[e] * xr[e];
      double* out = &dx[static_cast<std::size_t>(row * D)];
      if (d.norm.kind == QKNormKind::kNone) {
        for (std::int64_t e = 0; e < D; ++e) out[e] = dn[static_cast<std::size_t>(e)];
      } else if (d.norm.kind == QKNormKind::kRMS) {
        const double r = std::sqrt(sq / static_cast<double>(D) + static_cast<double>(d.norm.eps));
        double dot = 0.0;
        for (std::int64_t e = 0; e < D; ++e) dot += dn[static_cast<std::size_t>(e)] * weight[static_cast<std::size_t>(e)] * xr[e] / r;
        for (std::int64_t e = 0; e < D; ++e) {
          const double u = xr[e] / r, du = dn[static_cast<std::size_t>(e)] * weight[static_cast<std::size_t>(e)];
          out[e] = (du - u * dot / static_cast<double>(D)) / r;
          dweight[static_cast<std::size_t>(e)] += dn[static_cast<std::size_t>(e)] * u;
        }
      } else {
        const double norm = std::sqrt(sq), eps = static_cast<double>(d.norm.eps), scale = static_cast<double>(d.norm.scale);
        const double r = std::max(norm, eps);
        double dot = 0.0;
        for (std::int64_t e = 0; e < D; ++e) dot += dn[static_cast<std::size_t>(e)] * xr[e] / r;
        for (std::int64_t e = 0; e < D; ++e) {
          out[e] = norm > eps ? scale * (dn[static_cast<std::size_t>(e)] - xr[e] / r * dot) / r
                              : scale * dn[static_cast<std::size_t>(e)] / r;
        }
      }
    }
  }
};

}  // namespace vkattn::test
