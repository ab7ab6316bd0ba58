// vkattn-bench: forward attention timed on the GPU with Vulkan timestamps (Google Benchmark,
// manual time). One benchmark per variant x shape; counters follow the FlashAttention papers:
// FLOPs = 4 * B * Hq * D * (visible query-key pairs): 4 * B * Hq * Sq * Sk * D without a mask,
// about half of it for causal masks, and about w/Sk of it for a window of w keys.
//
//   vkattn-bench [--device=<index|name>] [Google Benchmark flags, e.g. --benchmark_format=json]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vkattn/vkattn.hpp"

namespace {

using namespace vkattn;

struct Shape {
  std::int64_t b, h, s, d;
};

// Dispatches recorded between two timestamps per measurement.
constexpr int kDispatchesPerSample = 4;

std::unique_ptr<Context> g_ctx;

// A mask to benchmark, named as in the benchmark name.
struct BenchMask {
  std::string name;
  Mask mask;
};

// Query-key pairs `mask` leaves visible (Sq = Sk = s, no documents).
double visible_pairs(const Mask& mask, std::int64_t s) {
  double pairs = 0;
  for (std::int64_t i = 0; i < s; ++i) {
    std::int64_t lo = 0, hi = s - 1;  // diag(i) = i when Sq = Sk, in either alignment
    if (mask.causal) hi = std::min(hi, i);
    if (mask.window_right) hi = std::min(hi, i + *mask.window_right);
    if (mask.window_left) lo = std::max<std::int64_t>(lo, i - *mask.window_left);
    pairs += static_cast<double>(std::max<std::int64_t>(0, hi - lo + 1));
  }
  return pairs;
}

double forward_flops(const Shape& s, const Mask& mask) {
  return 4.0 * static_cast<double>(s.b * s.h) * static_cast<double>(s.d) * visible_pairs(mask, s.s);
}

// Random tensors and a plan for one case; times kDispatchesPerSample back-to-back forwards.
void bench_forward(benchmark::State& state, Shape shape, DType dtype, Mask mask) {
  Context& ctx = *g_ctx;
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto make = [&](std::int64_t n) {
    Result<Tensor> t = Tensor::create(ctx, dtype, {shape.b, shape.h, shape.s, shape.d});
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = dist(rng);
    if (t) (void)t->upload(v);
    return t;
  };
  const std::int64_t n = shape.b * shape.h * shape.s * shape.d;
  Result<Tensor> q = make(n), k = make(n), v = make(n), o = make(n);
  Result<Tensor> lse = Tensor::create(ctx, DType::kF32, {shape.b, shape.h, shape.s});
  if (!q || !k || !v || !o || !lse) {
    state.SkipWithError("tensor allocation failed");
    return;
  }
  ForwardTensors t{q->view(), k->view(), v->view(), o->view(), lse->view()};
  Result<ForwardPlan> plan = ForwardPlan::create(ctx, describe(t, mask));
  if (!plan) {
    state.SkipWithError(plan.status().to_string().c_str());
    return;
  }
  if (!ctx.info().timestamps) {
    state.SkipWithError("the queue has no timestamps");
    return;
  }
  VkQueryPoolCreateInfo qpi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  qpi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qpi.queryCount = 2;
  VkQueryPool pool = VK_NULL_HANDLE;
  vkCreateQueryPool(ctx.device(), &qpi, nullptr, &pool);

  auto sample = [&]() -> double {  // seconds per forward
    Status recorded;
    Status s = ctx.submit_and_wait([&](VkCommandBuffer cmd) {
      vkCmdResetQueryPool(cmd, pool, 0, 2);
      VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                         VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                           nullptr, 0, nullptr);
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool, 0);
      for (int i = 0; i < kDispatchesPerSample && recorded; ++i) {
        recorded = plan->record(cmd, t);
        VkMemoryBarrier waw{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                            VK_ACCESS_SHADER_WRITE_BIT};
        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                             &waw, 0, nullptr, 0, nullptr);
      }
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, 1);
    });
    if (!s || !recorded) return -1.0;
    std::uint64_t ts[2] = {};
    vkGetQueryPoolResults(ctx.device(), pool, 0, 2, sizeof(ts), ts, sizeof(std::uint64_t),
                          VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    return static_cast<double>(ts[1] - ts[0]) * static_cast<double>(ctx.info().timestamp_period_ns) * 1e-9 /
           kDispatchesPerSample;
  };

  if (sample() < 0) {  // warm-up (first dispatch compiles the pipeline on lavapipe)
    state.SkipWithError("submission failed");
  }
  for (auto _ : state) {
    const double seconds = sample();
    if (seconds < 0) {
      state.SkipWithError("submission failed");
      break;
    }
    state.SetIterationTime(seconds);
  }
  vkDestroyQueryPool(ctx.device(), pool, nullptr);
  const double flops = forward_flops(shape, mask);
  state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  const double bytes =
      4.0 * static_cast<double>(n) * static_cast<double>(dtype_size(dtype));  // Q, K, V read, O written
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(plan->variant_name());
}

void register_all(bool is_cpu) {
  // Short default: under a minute on lavapipe. GPUs get the FlashAttention-paper sizes.
  const std::vector<Shape> shapes = is_cpu ? std::vector<Shape>{{1, 4, 256, 64}, {1, 2, 512, 128}}
                                           : std::vector<Shape>{{4, 16, 4096, 64}, {4, 16, 4096, 128}};
  for (const Shape& s : shapes) {
    for (DType dtype : {DType::kF16, DType::kF32}) {
      // Tile skipping shows as time: causal about half of nomask, a window of s/8 about 1/8.
      const std::vector<BenchMask> masks = {
          {"nomask", Mask{}},
          {"causal_br", Mask::causal_mask(Align::kBottomRight)},
          {"win" + std::to_string(s.s / 8) + "_br", Mask::window(s.s / 8, 0, Align::kBottomRight)},
      };
      for (const BenchMask& m : masks) {
        const std::string name = std::string("fwd/") + to_string(dtype) + "/" + m.name + "/b" + std::to_string(s.b) +
                                 "_h" + std::to_string(s.h) + "_s" + std::to_string(s.s) + "_d" + std::to_string(s.d);
        benchmark::RegisterBenchmark(name.c_str(), bench_forward, s, dtype, m.mask)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(is_cpu ? 0.1 : 0.5)
            ->Repetitions(3)
            ->ReportAggregatesOnly(true);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  ContextOptions options;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--device=", 9) == 0) {
      options.device = argv[i] + 9;
    } else {
      rest.push_back(argv[i]);
    }
  }
  Result<std::unique_ptr<Context>> ctx = Context::create(options);
  if (!ctx) {
    std::fprintf(stderr, "vkattn-bench: %s\n", ctx.status().to_string().c_str());
    return 1;
  }
  g_ctx = std::move(ctx).value();
  std::fprintf(stderr, "vkattn-bench: device %s\n", g_ctx->info().name.c_str());
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  register_all(g_ctx->info().type == VK_PHYSICAL_DEVICE_TYPE_CPU);
  benchmark::AddCustomContext("device", g_ctx->info().name);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_ctx.reset();
  return 0;
}
