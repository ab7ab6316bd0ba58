// A program that uses an installed (or add_subdirectory'd) vkattn: causal attention on the
// default device, checked against a plain CPU loop in double precision. Exits 0 when the result
// agrees and no validation message was logged (set VKATTN_VALIDATION=1 to enable the layer).
#include <vkattn/vkattn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

int main() {
  int validation_messages = 0;
  vkattn::ContextOptions options;
  options.pipeline_cache.persist = false;
  options.log = [&](vkattn::LogLevel level, std::string_view message) {
    if (message.rfind("validation:", 0) == 0) ++validation_messages;
    if (level != vkattn::LogLevel::kInfo) std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
  };
  auto ctx = vkattn::Context::create(options);
  if (!ctx) {
    std::fprintf(stderr, "Context::create: %s\n", ctx.status().to_string().c_str());
    return 1;
  }
  constexpr std::int64_t B = 1, H = 2, S = 33, D = 32;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> q(B * H * S * D), k(q.size()), v(q.size());
  for (auto* t : {&q, &k, &v}) {
    for (float& x : *t) x = u(rng);
  }
  auto make = [&](const std::vector<float>& data) {
    auto t = vkattn::Tensor::create(**ctx, vkattn::DType::kF32, {B, H, S, D});
    if (t && !data.empty() && !t->upload(data)) std::fprintf(stderr, "upload failed\n");
    return t;
  };
  auto qt = make(q), kt = make(k), vt = make(v), ot = make({});
  if (!qt || !kt || !vt || !ot) return 1;
  vkattn::ForwardTensors t;
  t.q = qt->view();
  t.k = kt->view();
  t.v = vt->view();
  t.o = ot->view();
  const vkattn::Status s = vkattn::attention_forward(**ctx, t, vkattn::Mask::causal_mask());
  if (!s) {
    std::fprintf(stderr, "attention_forward: %s\n", s.to_string().c_str());
    return 1;
  }
  auto o = ot->download();
  if (!o) return 1;
  double worst = 0.0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (std::int64_t bh = 0; bh < B * H; ++bh) {
    for (std::int64_t i = 0; i < S; ++i) {
      std::vector<double> p(static_cast<std::size_t>(i + 1));
      double top = -INFINITY, sum = 0.0;
      for (std::int64_t j = 0; j <= i; ++j) {  // causal: keys up to the query's own position
        double dot = 0.0;
        for (std::int64_t d = 0; d < D; ++d) dot += double(q[(bh * S + i) * D + d]) * k[(bh * S + j) * D + d];
        p[j] = dot * scale;
        top = std::max(top, p[j]);
      }
      for (double& x : p) sum += (x = std::exp(x - top));
      for (std::int64_t d = 0; d < D; ++d) {
        double ref = 0.0;
        for (std::int64_t j = 0; j <= i; ++j) ref += p[j] / sum * v[(bh * S + j) * D + d];
        const double err = std::fabs(ref - (*o)[(bh * S + i) * D + d]);
        if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;  // NaN fails, never hides
      }
    }
  }
  std::printf("vkattn %s on %s: max |O - reference| = %.3g, %d validation messages\n", "0.2",
              (*ctx)->info().name.c_str(), worst, validation_messages);
  return worst < 1e-4 && validation_messages == 0 ? 0 : 1;
}
