// vkattn-gemm-probe — how fast each instruction path can multiply matrices at all (issue 25): the
// ceiling an attention kernel on that path could approach. For C = A B with A [M, K], B [K, N] in
// fp16 and C [M, N] in fp32 (row-major), it runs
//   scalar  plain FMA (bench/gemm/gemm_scalar.comp), every device
//   nv      GL_NV_cooperative_matrix,  subgroup scope (gemm_coopmat.comp, KHR=0)
//   khr     GL_KHR_cooperative_matrix, subgroup scope (the same source, KHR=1)
//   cm2     GL_NV_cooperative_matrix2, workgroup scope with tensor layouts (gemm_cm2.comp)
// each over a sweep of tile configurations, checks 256 sampled elements of every result against a
// double-precision reference, and times each with Vulkan timestamps (median of 5 submissions of
// R dispatches). It makes its own instance and device, enabling what each path needs where the
// device has it; a path the device or this build's shader toolchain lacks is reported and skipped.
//
//   vkattn-gemm-probe [--size=M,N,K] [--device=<index|name substring>] [--paths=scalar,nv,khr,cm2]
//
// Default size 4096 x 4096 x 4096 (256 on CPU devices). Exit status 0 when every configuration
// that ran matched the reference. With --attention[=B,H,S,D] it runs the attention probe instead
// (attn_probe.hpp: a bare FlashAttention-2 forward on cooperative matrix 2).
#include <vulkan/vulkan_core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "attn_probe.hpp"
#include "probe_device.hpp"
#include "vkattn/dtype.hpp"
#include "vkattn_gemm_coopmat_nv.spv.h"
#include "vkattn_gemm_scalar.spv.h"
#if VKATTN_GEMM_KHR
#include "vkattn_gemm_coopmat_khr.spv.h"
#endif
#if VKATTN_GEMM_CM2
#include "vkattn_gemm_cm2.spv.h"
#endif

using vkattn::probe::Dispatch;
using vkattn::probe::ProbeDevice;

namespace {

struct Config {
  std::string path, name;
  std::span<const std::uint32_t> spirv;
  std::vector<std::uint32_t> spec;  // constant_id 0, 1, ... in order
  std::uint32_t tile_m = 16, tile_n = 16;  // C per workgroup
  std::uint32_t local_x = 16, local_y = 16;
};


std::vector<Config> configs() {
  std::vector<Config> out;
  out.push_back({"scalar", "16x16", {vkattn_gemm_scalar, sizeof(vkattn_gemm_scalar) / 4}, {}, 16, 16, 16, 16});
  const auto subgroup_path = [&](const char* path, std::span<const std::uint32_t> spirv) {
    using Frags = std::pair<std::uint32_t, std::uint32_t>;
    for (const auto& [fm, fn] : {Frags{1u, 1u}, Frags{1u, 2u}, Frags{2u, 2u}, Frags{2u, 4u}, Frags{4u, 2u}, Frags{4u, 4u}}) {
      char name[64];
      std::snprintf(name, sizeof name, "frag%ux%u_tile%ux%u", fm, fn, 32 * fm, 32 * fn);
      out.push_back({path, name, spirv, {fm, fn}, 32 * fm, 32 * fn, 128, 1});
    }
  };
  subgroup_path("nv", {vkattn_gemm_coopmat_nv, sizeof(vkattn_gemm_coopmat_nv) / 4});
#if VKATTN_GEMM_KHR
  subgroup_path("khr", {vkattn_gemm_coopmat_khr, sizeof(vkattn_gemm_coopmat_khr) / 4});
#endif
#if VKATTN_GEMM_CM2
  using Tiles = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t>;  // BM, BN, BK, workgroup
  for (const auto& [bm, bn, bk, wg] : {Tiles{64u, 64u, 32u, 128u}, Tiles{128u, 128u, 32u, 256u}, Tiles{128u, 256u, 32u, 256u},
                                       Tiles{256u, 128u, 32u, 256u}, Tiles{128u, 128u, 64u, 256u}, Tiles{256u, 256u, 32u, 256u}}) {
    char name[64];
    std::snprintf(name, sizeof name, "%ux%ux%u_wg%u", bm, bn, bk, wg);
    out.push_back({"cm2", name, {vkattn_gemm_cm2, sizeof(vkattn_gemm_cm2) / 4}, {bm, bn, bk, wg}, bm, bn, wg, 1});
  }
#endif
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t M = 0, N = 0, K = 0;
  std::string device;
  std::vector<std::string> paths{"scalar", "nv", "khr", "cm2"};
  bool attention = false;
  std::array<std::uint32_t, 4> attention_shape{4, 16, 4096, 128};  // B, H, S, D
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--size=", 0) == 0 && std::sscanf(a.c_str() + 7, "%u,%u,%u", &M, &N, &K) == 3) continue;
    if (a == "--attention") {
      attention = true;
      continue;
    }
    if (a.rfind("--attention=", 0) == 0 && std::sscanf(a.c_str() + 12, "%u,%u,%u,%u", &attention_shape[0], &attention_shape[1],
                                                       &attention_shape[2], &attention_shape[3]) == 4) {
      attention = true;
      continue;
    }
    if (a.rfind("--device=", 0) == 0) {
      device = a.substr(9);
      continue;
    }
    if (a.rfind("--paths=", 0) == 0) {
      paths.clear();
      for (std::size_t at = 8; at <= a.size();) {
        const std::size_t end = std::min(a.find(',', at), a.size());
        paths.push_back(a.substr(at, end - at));
        at = end + 1;
      }
      continue;
    }
    std::fprintf(stderr,
                 "usage: vkattn-gemm-probe [--size=M,N,K] [--device=<index|name>] [--paths=scalar,nv,khr,cm2]\n"
                 "       vkattn-gemm-probe --attention[=B,H,S,D] [--device=<index|name>]   (default 4,16,4096,128)\n");
    return 2;
  }
  try {
    ProbeDevice probe(device);
    if (attention) return vkattn::probe::attention_probe(probe, attention_shape);
    if (M == 0) M = N = K = probe.cpu() ? 256 : 4096;
    if (M % 256 || N % 256 || K % 64) {
      std::fprintf(stderr, "vkattn-gemm-probe: M and N must be multiples of 256 and K of 64 (every tile divides them)\n");
      return 2;
    }
    std::printf("device %s, C[%u x %u] = A[%u x %u] B[%u x %u], fp16 x fp16 -> fp32\n", probe.name(), M, N, M, K, K, N);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<std::uint16_t> a(static_cast<std::size_t>(M) * K), b(static_cast<std::size_t>(K) * N);
    for (auto& x : a) x = vkattn::float_to_half(u(rng));
    for (auto& x : b) x = vkattn::float_to_half(u(rng));
    probe.set_buffers({&a, &b}, static_cast<std::size_t>(M) * N * 4);
    // 256 sampled elements of C (corners included) and their fp64 references and error scales.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> at{{0, 0}, {M - 1, N - 1}, {0, N - 1}, {M - 1, 0}};
    std::uniform_int_distribution<std::uint32_t> ri(0, M - 1), rj(0, N - 1);
    while (at.size() < 256) at.emplace_back(ri(rng), rj(rng));
    std::vector<double> ref(at.size()), scale(at.size());
    for (std::size_t s = 0; s < at.size(); ++s) {
      for (std::uint32_t k = 0; k < K; ++k) {
        const double x = vkattn::half_to_float(a[static_cast<std::size_t>(at[s].first) * K + k]);
        const double y = vkattn::half_to_float(b[static_cast<std::size_t>(k) * N + at[s].second]);
        ref[s] += x * y;
        scale[s] += std::fabs(x * y);
      }
    }
    int failed = 0;
    std::printf("%-7s %-24s %10s %10s %12s  %s\n", "path", "config", "ms", "TFLOP/s", "max err", "check");
    std::string last_skipped;
    for (const Config& c : configs()) {
      if (std::find(paths.begin(), paths.end(), c.path) == paths.end()) continue;
      std::string why;
      if (!probe.has(c.path, why)) {
        if (last_skipped != c.path) std::printf("%-7s skipped: %s\n", c.path.c_str(), why.c_str());
        last_skipped = c.path;
        continue;
      }
      const Dispatch d{c.spirv, c.spec, {M, N, K}, N / c.tile_n, M / c.tile_m};
      std::vector<std::uint8_t> bytes;
      const double ms = probe.run(d, probe.cpu() ? 1 : 5, bytes);
      std::vector<float> out(bytes.size() / 4);
      std::memcpy(out.data(), bytes.data(), out.size() * 4);
      double worst = 0;
      bool ok = true;
      for (std::size_t s = 0; s < at.size(); ++s) {
        const double got = out[static_cast<std::size_t>(at[s].first) * N + at[s].second];
        const double err = std::fabs(got - ref[s]);
        worst = std::max(worst, err);
        ok = ok && std::isfinite(got) && err <= 1e-3 * scale[s] + 1e-5;  // fp32 accumulation of K products
      }
      failed += ok ? 0 : 1;
      std::printf("%-7s %-24s %10.3f %10.1f %12.3e  %s\n", c.path.c_str(), c.name.c_str(), ms,
                  2.0 * M * N * K / (ms * 1e-3) * 1e-12, worst, ok ? "ok" : "WRONG");
    }
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkattn-gemm-probe: %s\n", e.what());
    return 1;
  }
}
