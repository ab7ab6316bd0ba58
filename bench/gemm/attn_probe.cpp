#include "attn_probe.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "vkattn/dtype.hpp"
#if VKATTN_GEMM_CM2
#include "vkattn_attn_cm2.spv.h"
#endif

namespace vkattn::probe {
namespace {

struct Tiles {
  std::uint32_t bq, bk, workgroup, rowsum_mma, causal = 0;
};

// Row (bh, i) of O against fp64, softmax(scale q k^T) v over all S keys from the fp16 inputs: the
// largest error as a fraction of the row's largest |O|.
double row_error(const std::vector<std::uint16_t>& q, const std::vector<std::uint16_t>& k, const std::vector<std::uint16_t>& v,
                 const std::vector<std::uint8_t>& out, std::uint32_t S, std::uint32_t D, std::uint32_t bh, std::uint32_t i,
                 bool causal) {
  const std::uint32_t keys = causal ? i + 1 : S;  // causal: key j visible iff j <= i
  const auto at = [&](const std::vector<std::uint16_t>& t, std::uint32_t row, std::uint32_t d) {
    return static_cast<double>(vkattn::half_to_float(t[(static_cast<std::size_t>(bh) * S + row) * D + d]));
  };
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> s(keys);
  double m = -INFINITY;
  for (std::uint32_t j = 0; j < keys; ++j) {
    double dot = 0;
    for (std::uint32_t d = 0; d < D; ++d) dot += at(q, i, d) * at(k, j, d);
    s[j] = scale * dot;
    m = std::max(m, s[j]);
  }
  double l = 0;
  for (double& x : s) l += (x = std::exp(x - m));
  double worst = 0, largest = 0;
  for (std::uint32_t d = 0; d < D; ++d) {
    double o = 0;
    for (std::uint32_t j = 0; j < keys; ++j) o += s[j] * at(v, j, d);
    std::uint16_t h;
    std::memcpy(&h, out.data() + ((static_cast<std::size_t>(bh) * S + i) * D + d) * 2, 2);
    const double got = vkattn::half_to_float(h);
    worst = std::isfinite(got) ? std::max(worst, std::fabs(got - o / l)) : INFINITY;
    largest = std::max(largest, std::fabs(o / l));
  }
  return worst / std::max(largest, 1e-30);  // relative to the row's largest |O|
}

}  // namespace

int attention_probe(ProbeDevice& device, const std::array<std::uint32_t, 4>& shape) {
  const auto [B, H, S, D] = shape;
  if (B == 0 || H == 0 || S == 0 || S % 256 != 0 || D == 0 || D % 16 != 0 || D > 256) {
    std::fprintf(stderr, "vkattn-gemm-probe: --attention=%u,%u,%u,%u: S must be a multiple of 256, D of 16 up to 256\n", B,
                 H, S, D);
    return 2;
  }
  std::printf("device %s, attention forward (B, H, S, D) = (%u, %u, %u, %u), fp16, no mask and causal\n", device.name(), B, H, S, D);
  std::string why;
  if (!device.has("cm2_attention", why)) {
    std::printf("cm2     skipped: %s\n", why.c_str());
    return 0;
  }
#if VKATTN_GEMM_CM2
  const std::uint32_t BH = B * H;
  const std::size_t n = static_cast<std::size_t>(BH) * S * D;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  // Q in [-6, 6], K and V in [-1, 1]: scores of standard deviation ~2, a peaked softmax whose
  // running max moves, so a wrong rescale (alpha) or row sum shows in O.
  std::vector<std::uint16_t> q(n), k(n), v(n);
  for (auto& x : q) x = vkattn::float_to_half(6.0f * u(rng));
  for (auto* t : {&k, &v}) {
    for (auto& x : *t) x = vkattn::float_to_half(u(rng));
  }
  device.set_buffers({&q, &k, &v}, n * 2);
  // Sampled rows: the first and last of the first and last (b, h), and random ones.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> rows{{0, 0}, {BH - 1, S - 1}, {0, S - 1}, {BH - 1, 0}};
  std::uniform_int_distribution<std::uint32_t> rb(0, BH - 1), ri(0, S - 1);
  while (rows.size() < 12) rows.emplace_back(rb(rng), ri(rng));
  const float scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(D)));
  const std::span<const std::uint32_t> spirv{vkattn_attn_cm2, sizeof(vkattn_attn_cm2) / 4};
  std::printf("%-7s %-28s %10s %10s %12s  %s\n", "path", "config", "ms", "TFLOP/s", "rel err", "check");
  int failed = 0;
  for (const Tiles& t : {Tiles{64, 64, 128, 1}, Tiles{64, 64, 128, 0}, Tiles{128, 64, 256, 1}, Tiles{128, 32, 256, 1},
                         Tiles{64, 32, 128, 1}, Tiles{128, 128, 256, 1}, Tiles{64, 128, 128, 1}, Tiles{64, 64, 128, 1, 1},
                         Tiles{128, 64, 256, 1, 1}, Tiles{128, 128, 256, 1, 1}}) {
    char name[64];
    std::snprintf(name, sizeof name, "%sbq%u_bk%u_wg%u%s", t.causal ? "causal_" : "", t.bq, t.bk, t.workgroup,
                  t.rowsum_mma ? "_sum_mma" : "_sum_reduce");
    const Dispatch d{spirv, {t.bq, t.bk, D, t.workgroup, t.rowsum_mma, t.causal},
                     {S, std::bit_cast<std::uint32_t>(scale_log2)}, S / t.bq, BH};
    std::vector<std::uint8_t> out;
    double ms = 0;
    try {  // a tiling the driver refuses (workgroup-scope sizes, shared memory) is reported, not fatal
      ms = device.run(d, 3, out);
    } catch (const std::exception& e) {
      std::printf("%-7s %-28s failed: %s\n", "cm2", name, e.what());
      ++failed;
      continue;
    }
    double worst = 0;
    for (const auto& [bh, i] : rows) worst = std::max(worst, row_error(q, k, v, out, S, D, bh, i, t.causal != 0));
    // P and O are rounded to fp16 (2^-11 each), the sums in fp32: 0.5 % of the row's largest |O|
    // holds them (a skipped rescale or a wrong row sum is off by far more on these scores).
    const bool ok = worst <= 5e-3;
    failed += ok ? 0 : 1;
    // 4 D flops per visible (query, key) pair: S^2, or S (S + 1) / 2 causal.
    const double pairs = t.causal ? static_cast<double>(S) * (S + 1) / 2 : static_cast<double>(S) * S;
    const double flops = 4.0 * BH * pairs * D;
    std::printf("%-7s %-28s %10.3f %10.1f %12.3e  %s\n", "cm2", name, ms, flops / (ms * 1e-3) * 1e-12, worst,
                ok ? "ok" : "WRONG");
  }
  return failed == 0 ? 0 : 1;
#else
  return 0;
#endif
}

}  // namespace vkattn::probe
