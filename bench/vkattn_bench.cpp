// vkattn-bench: attention passes timed on the GPU with Vulkan timestamps (Google Benchmark,
// manual time; warm-up, repetitions, median). One benchmark per pass (fwd, bwd, fwd+bwd) x
// variant x shape; counters follow the FlashAttention papers (bench_cases.hpp).
//
// Flags: kUsage below (printed by --help).
//
// --shapes runs the compare preset's cases (fwd and fwd+bwd, fp16, no mask and causal) for the
// given shapes instead of a preset, e.g. --shapes=4x32x4096x64,8x16x4096x64; --decode the decode
// preset's for the given decode shapes, e.g. --decode=4x32x8x1x8192x128 (B, Hq, Hkv, Sq, Sk, D).
// --svg writes TFLOP/s against sequence length, one line per pass and variant. Progress
// ("[k/n] name") goes to stderr. --pipeline-timing reports pipeline creation with an empty and
// with a loaded VkPipelineCache instead of running benchmarks. --pipeline-stats prints, after
// the benchmarks, the driver's statistics of every pipeline the registry holds (registers, spills, ...;
// VK_KHR_pipeline_executable_properties, where the device has it) as "stats <name> <stat> = v".
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "copy_bandwidth.hpp"
#include "device_report.hpp"
#include "gpu_timer.hpp"
#include "qk_separate.hpp"
#include "svg_chart.hpp"
#include "table_reporter.hpp"
#include "vkattn/vkattn.hpp"

namespace {

using namespace vkattn;
using namespace vkattn::bench;

// Passes recorded between two timestamps per measurement (one on CPU devices, where a single
// pass already takes milliseconds).
int g_dispatches_per_sample = 4;

std::unique_ptr<Context> g_ctx;
KernelPath g_path = KernelPath::kAuto;
double g_copy_gbps = 0;           // the device's copy bandwidth (the faster probe), measured for the decode preset
std::set<std::string> g_started;  // for progress
std::size_t g_total = 0;
std::set<std::string> g_failed;                       // cases that reported an error: the exit status is then 1
std::string g_first_failed;                           // the first of them in run order, for the summary
std::map<std::string, std::vector<double>> g_tflops;  // per benchmark, one value per repetition
std::string g_svg;                                    // --svg: rewritten after every benchmark run
bool g_svg_written = false;                           // whether the last rewrite succeeded
std::vector<BenchCase> g_cases;

AttentionDesc desc_of(const BenchCase& c) {
  AttentionDesc d;
  d.dtype = c.dtype;
  d.batch = c.batch;
  d.q_heads = c.q_heads;
  d.kv_heads = c.kv_heads;
  d.seq_q = c.seq_q;
  d.seq_k = c.seq_k;
  d.head_dim = c.head_dim;
  d.head_dim_v = c.head_dim_v;
  d.mask = c.mask;
  d.dropout.p = c.dropout;                // the tensors' DropoutRng stays seed 0, offset 0
  if (c.qk_rms_rope && !c.qk_separate) {  // the LLM block's: RMSNorm on Q and K, rotate-half RoPE over positions
    d.qk.q_norm = d.qk.k_norm = kBenchQKNorm;
    d.qk.rope.style = kBenchRope;
  }
  d.path = g_path;
  if (c.paged_block != 0) {
    // A pool of exactly the blocks the sequences need, handed out in a shuffled order (as a
    // cache that has served other requests holds them), host tables.
    PagedKV& pk = d.paged_kv;
    pk.block_size = c.paged_block;
    pk.max_blocks = (c.seq_k + c.paged_block - 1) / c.paged_block;
    pk.num_blocks = c.batch * pk.max_blocks;
    pk.block_table.resize(static_cast<std::size_t>(pk.num_blocks));
    std::iota(pk.block_table.begin(), pk.block_table.end(), 0);
    std::shuffle(pk.block_table.begin(), pk.block_table.end(), std::mt19937(7));
    pk.cache_lens.assign(static_cast<std::size_t>(c.batch), static_cast<std::int32_t>(c.seq_k));
  }
  return d;
}

// Device tensors of one case, filled with uniform(-1, 1).
struct Buffers {
  std::vector<Tensor> owned;
  ForwardTensors fwd;
  BackwardTensors bwd;
  TensorView q_weight, k_weight;  // with qk_rms_rope
};

Result<Buffers> make_buffers(Context& ctx, const BenchCase& c) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Buffers b;
  b.owned.reserve(10);
  auto make = [&](DType dtype, std::initializer_list<std::int64_t> shape, bool fill) -> Result<TensorView> {
    Result<Tensor> t = Tensor::create(ctx, dtype, shape);
    if (!t) return t.status();
    if (fill) {
      std::vector<float> v(static_cast<std::size_t>(t->numel()));
      for (float& x : v) x = dist(rng);
      if (Status s = t->upload(v); !s) return s;
    }
    b.owned.push_back(std::move(t).value());
    return b.owned.back().view();
  };
  const std::int64_t B = c.batch, Hq = c.q_heads, Hkv = c.kv_heads, Sq = c.seq_q, Sk = c.seq_k;
  const std::int64_t D = c.head_dim, Dv = c.dv();
  const bool bwd = c.pass != Pass::kFwd;
  Result<TensorView> q = make(c.dtype, {B, Hq, Sq, D}, true), k = make(c.dtype, {B, Hkv, Sk, D}, true),
                     v = make(c.dtype, {B, Hkv, Sk, Dv}, true), o = make(c.dtype, {B, Hq, Sq, Dv}, false),
                     lse = make(DType::kF32, {B, Hq, Sq}, false);
  for (auto* r : {&q, &k, &v, &o, &lse}) {
    if (!*r) return r->status();
  }
  b.fwd = {*q, *k, *v, *o, *lse};
  if (c.paged_block != 0) {  // the same bytes seen as a pool [blocks, block_size, Hkv, D] (BSHD)
    const std::int64_t blocks = B * ((Sk + c.paged_block - 1) / c.paged_block);
    Result<TensorView> pk = make(c.dtype, {blocks, c.paged_block, Hkv, D}, true);
    Result<TensorView> pv = make(c.dtype, {blocks, c.paged_block, Hkv, Dv}, true);
    if (!pk) return pk.status();
    if (!pv) return pv.status();
    b.fwd.k = TensorView::attention(pk->buffer, pk->buffer_size, c.dtype, Layout::kBSHD, blocks, Hkv, c.paged_block, D);
    b.fwd.v =
        TensorView::attention(pv->buffer, pv->buffer_size, c.dtype, Layout::kBSHD, blocks, Hkv, c.paged_block, Dv);
  }
  if (c.qk_rms_rope) {  // the RMSNorm weights
    Result<TensorView> qw = make(DType::kF32, {D}, true), kw = make(DType::kF32, {D}, true);
    if (!qw || !kw) return !qw ? qw.status() : kw.status();
    b.q_weight = *qw, b.k_weight = *kw;
    if (!c.qk_separate) {
      b.fwd.q_norm_weight = *qw, b.fwd.k_norm_weight = *kw;
      b.bwd.q_norm_weight = *qw, b.bwd.k_norm_weight = *kw;
    }
  }
  if (bwd) {
    Result<TensorView> d_o = make(c.dtype, {B, Hq, Sq, Dv}, true), dq = make(c.dtype, {B, Hq, Sq, D}, false),
                       dk = make(c.dtype, {B, Hkv, Sk, D}, false), dv = make(c.dtype, {B, Hkv, Sk, Dv}, false);
    for (auto* r : {&d_o, &dq, &dk, &dv}) {
      if (!*r) return r->status();
    }
    b.bwd.q = *q, b.bwd.k = *k, b.bwd.v = *v, b.bwd.o = *o, b.bwd.lse = *lse;
    b.bwd.d_o = *d_o, b.bwd.dq = *dq, b.bwd.dk = *dk, b.bwd.dv = *dv;
  }
  return b;
}

bool write_svg(const std::string& path, const std::vector<BenchCase>& cases, const std::string& device);

// The current case's tensors and plans, kept across Google Benchmark's calls for that case (its
// iteration-count estimate and its repetitions), so every call reads and writes the same memory.
// On the H100 the first dispatches into freshly allocated memory ran 3-5x slower for tens of
// milliseconds (RESULTS_H100.md, ninth session); with new tensors per call, that start-up cost
// was averaged into the reported times of the longer cases.
struct CaseState {
  std::string name;
  Buffers buffers;
  std::optional<ForwardPlan> fwd;
  std::optional<BackwardPlan> bwd;
  // qk_separate: the passes, and the call's own Q, K, dQ, dK (the attention takes the passes' views).
  std::unique_ptr<SeparateQK> separate;
  TensorView q, k, dq, dk;
  bool warmed = false;  // set once warm_up has run for this case
};
std::optional<CaseState> g_case;

Result<CaseState*> case_state(Context& ctx, const BenchCase& c) {
  if (g_case && g_case->name == c.name()) return &*g_case;
  g_case.reset();  // the previous case's memory goes first
  CaseState st;
  st.name = c.name();
  // Plans first: they refuse a bad desc before any tensor is allocated and filled.
  const AttentionDesc desc = desc_of(c);
  Result<ForwardPlan> fwd = ForwardPlan::create(ctx, desc);
  if (!fwd) return fwd.status();
  st.fwd.emplace(std::move(fwd).value());
  if (c.pass != Pass::kFwd) {
    Result<BackwardPlan> b = BackwardPlan::create(ctx, desc);
    if (!b) return b.status();
    st.bwd.emplace(std::move(b).value());
  }
  Result<Buffers> buffers = make_buffers(ctx, c);
  if (!buffers) return buffers.status();
  st.buffers = std::move(buffers).value();
  if (c.qk_separate) {
    Result<std::unique_ptr<SeparateQK>> sep = SeparateQK::create(ctx, c.dtype, c.batch, c.q_heads, c.kv_heads, c.seq_q,
                                                                 c.seq_k, c.head_dim, st.bwd.has_value());
    if (!sep) return sep.status();
    st.separate = std::move(sep).value();
    Buffers& b = st.buffers;
    st.q = b.fwd.q, st.k = b.fwd.k, st.dq = b.bwd.dq, st.dk = b.bwd.dk;
    b.fwd.q = b.bwd.q = st.separate->q_out();
    b.fwd.k = b.bwd.k = st.separate->k_out();
    if (st.bwd) b.bwd.dq = st.separate->dq_in(), b.bwd.dk = st.separate->dk_in();
  }
  if (st.bwd) {  // O and LSE for the backward (after the separate passes' Q', K')
    if (st.separate) {
      Status recorded = Status::ok();
      const Status ran = ctx.submit_and_wait([&](VkCommandBuffer cmd) {
        recorded = st.separate->record_forward(cmd, st.q, st.k, st.buffers.q_weight, st.buffers.k_weight);
      });
      if (!recorded) return recorded;
      if (!ran) return ran;
    }
    if (Status s = st.fwd->run(st.buffers.fwd); !s) return s;
  }
  g_case.emplace(std::move(st));
  return &*g_case;
}

// Samples until the times settle: at least 5, and on GPUs until 0.2 s of GPU time or 0.3 s on
// the clock have passed (the slow start of fresh memory above, clocks ramping up after the plan's
// creation left the GPU idle), at most 20,000. A decode case's sample is tens of microseconds of
// GPU time: 200 samples (the old cap) were 25 ms of it, and the first case of an H100 run then
// measured 1.55x its paged twin, which ran later and should be slower (thirty-third session; the
// longer warm-up is a guess at the fix, bounded by 0.3 s on the clock, not yet timed on a GPU).
// One sample on CPU devices, where the first run also compiles the pipelines.
template <class TimeOnce>
Status warm_up(bool cpu, TimeOnce&& time_once) {
  double seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int n = 0; n < (cpu ? 1 : 20000); ++n) {
    Result<double> t = time_once();
    if (!t) return t.status();
    seconds += *t;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (cpu || (n >= 4 && (seconds >= 0.2 || wall >= 0.3))) break;
  }
  return Status::ok();
}

void bench_case(benchmark::State& state, BenchCase c) {
  Context& ctx = *g_ctx;
  const std::string name = c.name();
  const auto fail = [&](const Status& s) {
    if (g_failed.insert(name).second && g_first_failed.empty()) g_first_failed = name;
    state.SkipWithError(s.to_string().c_str());
  };
  if (g_started.insert(name).second) {
    std::fprintf(stderr, "[%zu/%zu] %s\n", g_started.size(), g_total, name.c_str());
  }
  Result<CaseState*> case_or = case_state(ctx, c);
  if (!case_or) return fail(case_or.status());
  CaseState& cs = **case_or;
  Buffers* buffers = &cs.buffers;
  std::optional<ForwardPlan>& fwd = cs.fwd;
  std::optional<BackwardPlan>& bwd = cs.bwd;
  Result<GpuTimer> timer = GpuTimer::create(ctx);
  if (!timer) return fail(timer.status());
  SeparateQK* sep = cs.separate.get();
  auto record = [&](VkCommandBuffer cmd) -> Status {
    for (int i = 0; i < g_dispatches_per_sample; ++i) {
      if (c.pass != Pass::kBwd) {
        if (sep) {
          if (Status s = sep->record_forward(cmd, cs.q, cs.k, buffers->q_weight, buffers->k_weight); !s) return s;
          compute_barrier(cmd);
        }
        if (Status s = fwd->record(cmd, buffers->fwd); !s) return s;
        compute_barrier(cmd);
      }
      if (c.pass != Pass::kFwd) {
        if (Status s = bwd->record(cmd, buffers->bwd); !s) return s;
        compute_barrier(cmd);
        if (sep) {
          if (Status s = sep->record_backward(cmd, cs.q, cs.k, buffers->q_weight, buffers->k_weight, cs.dq, cs.dk);
              !s) {
            return s;
          }
          compute_barrier(cmd);
        }
      }
    }
    return Status::ok();
  };
  if (!cs.warmed) {
    const bool cpu = ctx.info().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (Status s = warm_up(cpu, [&] { return timer->time(record); }); !s) {
      return fail(s);
    }
    cs.warmed = true;
  } else if (Result<double> warm = timer->time(record); !warm) {
    return fail(warm.status());
  }
  double total = 0;
  std::int64_t samples = 0;
  for (auto _ : state) {
    Result<double> t = timer->time(record);
    if (!t) {
      fail(t.status());
      break;
    }
    const double seconds = *t / g_dispatches_per_sample;
    state.SetIterationTime(seconds);
    total += seconds;
    ++samples;
  }
  state.counters["TFLOP/s"] = benchmark::Counter(c.flops() * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(c.bytes() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (g_copy_gbps > 0) {  // decode: K/V read against the device's copy bandwidth
    state.counters["KV_GB/s"] = benchmark::Counter(c.kv_bytes() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["of_copy"] =
        benchmark::Counter(c.kv_bytes() * 1e-9 / g_copy_gbps, benchmark::Counter::kIsIterationInvariantRate);
  }
  std::string label = c.pass == Pass::kBwd ? bwd->variant_name() : fwd->variant_name();
  if (c.pass == Pass::kFwdBwd) label += " + " + bwd->variant_name();
  if (sep) label += " + separate RMSNorm and RoPE passes";
  state.SetLabel(label);
  if (samples > 0) g_tflops[name].push_back(c.flops() / (total / static_cast<double>(samples)) * 1e-12);
  // Rewritten after every case, so an interrupted sweep keeps its chart.
  if (!g_svg.empty()) g_svg_written = write_svg(g_svg, g_cases, ctx.info().name);
}

// Pipeline creation with an empty and with a loaded VkPipelineCache, for a few variants. The
// drivers' own shader caches are switched off (unless the caller set them) so "cold" is cold.
int pipeline_timing(const ContextOptions& base) {
  const auto dir = std::filesystem::temp_directory_path() / ("vkattn_bench_cache_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ContextOptions options = base;
  options.pipeline_cache.persist = true;
  options.pipeline_cache.path = (dir / "pipelines.bin").string();
  const std::vector<BenchCase> cases = {
      [] {
        BenchCase c;
        c.head_dim = 64;
        c.mask_name = "nomask";
        return c;
      }(),
      [] {
        BenchCase c;
        c.head_dim = 64;
        c.mask_name = "causal_br";
        c.mask = Mask::causal_mask();
        return c;
      }(),
      [] {
        BenchCase c;
        c.head_dim = 128;
        c.mask_name = "nomask";
        return c;
      }(),
      [] {
        BenchCase c;
        c.head_dim = 64;
        c.dtype = DType::kF32;
        c.mask_name = "win16_br";
        c.mask = Mask::window(16, 0);
        return c;
      }(),
      [] {
        BenchCase c;
        c.pass = Pass::kBwd;
        c.head_dim = 64;
        c.mask_name = "causal_br";
        c.mask = Mask::causal_mask();
        return c;
      }(),
  };
  std::printf("%-52s %12s %14s %12s %14s\n", "variant (B=H=1, S=64)", "cold create", "cold 1st run", "warm create",
              "warm 1st run");
  std::map<std::string, std::array<double, 4>> rows;
  for (int warm = 0; warm < 2; ++warm) {
    Result<std::unique_ptr<Context>> ctx = Context::create(options);
    if (!ctx) {
      std::fprintf(stderr, "vkattn-bench: %s\n", ctx.status().to_string().c_str());
      return 1;
    }
    for (BenchCase c : cases) {
      c.seq_q = c.seq_k = 64;
      using clock = std::chrono::steady_clock;
      const auto t0 = clock::now();
      Result<ForwardPlan> fwd = ForwardPlan::create(**ctx, desc_of(c));
      std::optional<BackwardPlan> bwd;
      Status bwd_status;
      if (c.pass == Pass::kBwd) {
        Result<BackwardPlan> b = BackwardPlan::create(**ctx, desc_of(c));
        if (b) bwd.emplace(std::move(b).value());
        bwd_status = b.status();
      }
      const auto t1 = clock::now();
      Result<Buffers> buffers = make_buffers(**ctx, c);
      const Status failed = !fwd ? fwd.status() : !bwd_status ? bwd_status : buffers.status();
      if (!failed) {
        std::fprintf(stderr, "vkattn-bench: %s: %s\n", c.name().c_str(), failed.to_string().c_str());
        return 1;
      }
      const auto t2 = clock::now();
      Status s = fwd->run(buffers->fwd);
      if (s && bwd) s = bwd->run(buffers->bwd);
      const auto t3 = clock::now();
      if (!s) {
        std::fprintf(stderr, "vkattn-bench: %s\n", s.to_string().c_str());
        return 1;
      }
      const std::string key = c.pass == Pass::kBwd ? bwd->variant_name() : fwd->variant_name();
      rows[key][2 * static_cast<std::size_t>(warm)] = std::chrono::duration<double, std::milli>(t1 - t0).count();
      rows[key][2 * static_cast<std::size_t>(warm) + 1] = std::chrono::duration<double, std::milli>(t3 - t2).count();
    }
    if (warm == 0) {
      if (Status s = (*ctx)->save_pipeline_cache(); !s) {
        std::fprintf(stderr, "vkattn-bench: %s\n", s.to_string().c_str());
        return 1;
      }
    }
  }
  for (const auto& [name, r] : rows) {
    std::printf("%-52s %9.1f ms %11.1f ms %9.1f ms %11.1f ms\n", name.c_str(), r[0], r[1], r[2], r[3]);
  }
  std::printf("(1st run: the first submission, where lavapipe compiles; the drivers' own disk caches are off)\n");
  std::filesystem::remove_all(dir);
  return 0;
}

// Returns false (after saying so) when the file cannot be written.
bool write_svg(const std::string& path, const std::vector<BenchCase>& cases, const std::string& device) {
  std::map<std::string, ChartSeries> series;
  for (const BenchCase& c : cases) {
    auto it = g_tflops.find(c.name());
    if (it == g_tflops.end() || it->second.empty()) continue;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    ChartSeries& s = series[c.series()];
    s.name = c.series();
    s.points.emplace_back(static_cast<double>(c.seq_k), v[v.size() / 2]);  // the median repetition
  }
  std::vector<ChartSeries> list;
  for (auto& [name, s] : series) list.push_back(std::move(s));
  std::ofstream out(path);
  out << svg_line_chart("vkattn on " + device, "sequence length (keys)", "TFLOP/s", list);
  if (out.flush()) return true;
  static bool said = false;  // the chart is rewritten after every case: say it once
  if (!said) std::fprintf(stderr, "vkattn-bench: cannot write %s\n", path.c_str());
  said = true;
  return false;
}

}  // namespace

static void print_pipeline_statistics(const Context& ctx) {
  if (!ctx.info().pipeline_statistics) {
    std::fprintf(stderr, "vkattn-bench: %s has no VK_KHR_pipeline_executable_properties\n", ctx.info().name.c_str());
    return;
  }
  for (const PipelineReport& r : ctx.pipeline_reports()) {
    for (const PipelineStatistic& s : r.statistics) {
      std::fprintf(stderr, "stats %s [%s] %s = %g\n", r.name.c_str(), r.executable.c_str(), s.name.c_str(), s.value);
    }
  }
}

constexpr const char* kUsage =
    "usage: vkattn-bench [--preset=short|fa2|compare|decode | --shapes=BxHxSxD[xDv][,...] | "
    "--decode=BxHqxHkvxSqxSkxD[,...]]\n"
    "                    [--device=<index|name>]\n"
    "                    [--path=auto|scalar|coopmat|coopmat_khr|coopmat2] [--dtype=f16|bf16|f32] [--dropout=P] "
    "[--qk=rms_rope|rms_rope_separate]\n"
    "                    [--svg=chart.svg]\n"
    "                    [--pipeline-timing] [--pipeline-stats]\n"
    "                    [--benchmark_*=... (Google Benchmark's flags: --benchmark_filter=REGEX,\n"
    "                     --benchmark_min_time=SECONDS, --benchmark_repetitions=N, --benchmark_format=json,\n"
    "                     --benchmark_out=FILE, --benchmark_list_tests=true, ...)]\n"
    "  --preset    short (default): a few cases, under a minute on lavapipe; fa2: the FlashAttention-2\n"
    "              sweep; compare: the H100 comparison with SDPA; decode: Sq 1..8 against long Sk\n"
    "  --shapes    the compare preset's passes for your (B, H, S, D) shapes instead of a preset; a fifth\n"
    "              number is V's head dim where it differs from Q's and K's (e.g. 4x16x4096x192x128)\n"
    "  --decode    the decode preset's cases for your shapes: batch, query heads, K/V heads, new tokens,\n"
    "              cached keys, head dim (e.g. 4x32x8x1x8192x128: Llama-3-8B decoding 4 sequences at 8k);\n"
    "              bottom-right causal, contiguous and in a paged cache of 16-token blocks, K/V GB/s\n"
    "              against the measured copy bandwidth\n"
    "  --device    a physical device by index or name substring (default: discrete > integrated >\n"
    "              virtual GPU > CPU, so lavapipe only without a GPU)\n"
    "  --path      kernel path (default auto; coopmat: the NV build, coopmat_khr: the KHR build,\n"
    "              coopmat2: cooperative matrix 2)\n"
    "  --dtype     storage of every case (default: each preset's own, fp16 for --shapes and compare)\n"
    "  --dropout   dropout probability on P of every case, forward and backward (names end _dropout<percent>)\n"
    "  --qk=rms_rope  RMSNorm on Q and K and rotate-half RoPE in every case (names end _qkrope)\n"
    "  --qk=rms_rope_separate  the same as separate passes (an RMSNorm and a RoPE QKTransformPlan per side,\n"
    "                 then plain attention; names end _qkrope_sep)\n"
    "  --svg       write TFLOP/s against sequence length\n"
    "  --pipeline-timing  pipeline creation with an empty and a loaded VkPipelineCache\n"
    "  --pipeline-stats   the driver's statistics of every pipeline (registers, spills, ...)\n"
    "  --info      the device, each kernel path and why it is or is not available, and the kernels\n"
    "              and tiles the planner picks for --shapes (default 1x16x4096x128), fp16; times nothing\n"
    "Output: one line per result with TFLOP/s and GB/s as plain numbers, then a table of the medians\n"
    "(--benchmark_format=json|csv and --benchmark_out files are Google Benchmark's own).\n";

// The command line (kUsage). Google Benchmark's own flags pass through in `rest`.
struct BenchArgs {
  ContextOptions options;
  std::string preset_name = "short";
  bool preset_given = false;
  std::optional<std::vector<Shape>> shapes;
  std::optional<std::vector<DecodeShape>> decode_shapes;
  bool timing = false;         // --pipeline-timing
  bool info = false;           // --info
  std::optional<DType> dtype;  // --dtype: every case's storage
  KernelPath path = KernelPath::kAuto;  // --path
  std::string svg;             // --svg
  float dropout = 0.0f;        // --dropout: every case's dropout probability
  bool qk_rms_rope = false;    // --qk=rms_rope: every case with QK RMSNorm and RoPE
  bool qk_separate = false;    // --qk=rms_rope_separate: the same as separate passes
  std::string filter;          // --benchmark_filter, also read here
  bool console = true;         // the display format is the console's (not --benchmark_format=json|csv)
  std::vector<char*> rest;     // argv[0] and Google Benchmark's flags
};

// Parses argv into `a`; returns the exit status when the program should stop here (--help: 0, a
// refused flag: 2, the message printed).
std::optional<int> parse_bench_args(int argc, char** argv, BenchArgs& a) {
  // A parsed --shapes / --decode list into `into`; false (the message printed) when it is refused.
  const auto take = [](auto parsed, auto& into) {
    if (!parsed) {
      std::fprintf(stderr, "vkattn-bench: %s\n", parsed.status().message().c_str());
      return false;
    }
    into = std::move(parsed).value();
    return true;
  };
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i > 0 && (arg == "--help" || arg == "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg.rfind("--device=", 0) == 0) {
      a.options.device = arg.substr(9);
    } else if (arg.rfind("--preset=", 0) == 0) {
      a.preset_name = arg.substr(9);
      a.preset_given = true;
    } else if (arg.rfind("--shapes=", 0) == 0) {
      if (!take(parse_shapes(arg.substr(9)), a.shapes)) return 2;
    } else if (arg.rfind("--decode=", 0) == 0) {
      if (!take(parse_decode_shapes(arg.substr(9)), a.decode_shapes)) return 2;
    } else if (arg.rfind("--svg=", 0) == 0) {
      a.svg = arg.substr(6);
    } else if (arg == "--pipeline-timing") {
      a.timing = true;
    } else if (arg == "--info") {
      a.info = true;
    } else if (arg == "--pipeline-stats") {
      a.options.capture_pipeline_statistics = true;
    } else if (arg.rfind("--dtype=", 0) == 0) {
      const std::string t = arg.substr(8);
      if (t == "f16") {
        a.dtype = DType::kF16;
      } else if (t == "bf16") {
        a.dtype = DType::kBF16;
      } else if (t == "f32") {
        a.dtype = DType::kF32;
      } else {
        std::fprintf(stderr, "vkattn-bench: --dtype=%s: not f16, bf16 or f32\n", t.c_str());
        return 2;
      }
    } else if (arg == "--qk=rms_rope") {  // the last --qk flag counts
      a.qk_rms_rope = true;
      a.qk_separate = false;
    } else if (arg == "--qk=rms_rope_separate") {
      a.qk_rms_rope = a.qk_separate = true;
    } else if (arg.rfind("--dropout=", 0) == 0) {
      char* end = nullptr;
      const float p = std::strtof(arg.c_str() + 10, &end);
      if (end == arg.c_str() + 10 || *end != '\0' || !(p >= 0.0f && p < 1.0f)) {
        std::fprintf(stderr, "vkattn-bench: %s: the probability must be in [0, 1)\n", arg.c_str());
        return 2;
      }
      a.dropout = p;
    } else if (arg.rfind("--path=", 0) == 0) {
      const std::string p = arg.substr(7);
      const std::optional<KernelPath> path = kernel_path_from_string(p);
      if (!path) {
        std::fprintf(stderr, "vkattn-bench: --path=%s: not %s\n", p.c_str(), kKernelPathNames);
        return 2;
      }
      a.path = *path;
    } else if (i == 0 || arg.rfind("--benchmark_", 0) == 0 || arg.rfind("--v=", 0) == 0) {
      if (arg.rfind("--benchmark_filter=", 0) == 0) a.filter = arg.substr(19);
      if (arg.rfind("--benchmark_format=", 0) == 0) a.console = arg.substr(19) == "console";
      a.rest.push_back(argv[i]);
    } else {
      std::fprintf(stderr, "vkattn-bench: unknown argument %s (see --help)\n", arg.c_str());
      return 2;
    }
  }
  if (static_cast<int>(a.shapes.has_value()) + static_cast<int>(a.decode_shapes.has_value()) +
          static_cast<int>(a.preset_given) >
      1) {
    std::fprintf(stderr, "vkattn-bench: give one of --preset, --shapes and --decode\n");
    return 2;
  }
  if (a.shapes) a.preset_name = "shapes";
  if (a.decode_shapes) a.preset_name = "decode (--decode)";
  return std::nullopt;
}

// The cases to time: the preset's, or those of --shapes / --decode, with --dtype, --dropout and
// --qk applied (cases that then differ in nothing, the short preset's dtypes, become one).
std::vector<BenchCase> select_cases(const BenchArgs& a, bool cpu) {
  std::vector<BenchCase> cases;
  if (a.shapes) {
    cases = shape_cases(*a.shapes);
  } else if (a.decode_shapes) {
    cases = decode_cases(*a.decode_shapes, {0, 16});
  } else {
    cases = preset(a.preset_name, cpu);
  }
  if (a.dtype) {
    std::vector<BenchCase> unique;
    for (BenchCase c : cases) {
      c.dtype = *a.dtype;
      bool seen = false;
      for (const BenchCase& u : unique) seen = seen || u.name() == c.name();
      if (!seen) unique.push_back(c);
    }
    cases = std::move(unique);
  }
  for (BenchCase& c : cases) c.dropout = a.dropout, c.qk_rms_rope = a.qk_rms_rope, c.qk_separate = a.qk_separate;
  return cases;
}

// Decode cases: the device's copy bandwidth (KV_GB/s's denominator, g_copy_gbps) and the fixed
// cost of one and of two dispatches, printed and added to the benchmark context. False when the
// probe fails (the message printed).
bool measure_copy_bandwidth_for_decode(bool cpu) {
  const VkDeviceSize copy_bytes = cpu ? (VkDeviceSize{64} << 20) : (VkDeviceSize{1} << 30);
  Result<CopyBandwidth> copy = measure_copy_bandwidth(*g_ctx, copy_bytes, cpu ? 0.0 : 0.5);
  if (!copy) {
    std::fprintf(stderr, "vkattn-bench: copy bandwidth: %s\n", copy.status().to_string().c_str());
    return false;
  }
  g_copy_gbps = copy->best();
  if (!copy->shader_failure.empty()) {
    std::fprintf(stderr, "vkattn-bench: the compute-shader copy probe failed (%s); of_copy uses vkCmdCopyBuffer's\n",
                 copy->shader_failure.c_str());
  }
  std::fprintf(stderr,
               "vkattn-bench: copy bandwidth, read + written: %.1f GB/s by vkCmdCopyBuffer (%llu MiB), %.1f GB/s "
               "by a compute shader (%llu MiB); KV_GB/s is K and V read per step, of_copy its fraction of the "
               "faster\n",
               copy->command_gbps, static_cast<unsigned long long>(copy_bytes >> 20), copy->shader_gbps,
               static_cast<unsigned long long>(copy->shader_bytes >> 20));
  if (copy->one_dispatch_us > 0) {
    std::fprintf(stderr,
                 "vkattn-bench: fixed cost per call, recorded as the cases are: %.2f us for one empty dispatch, "
                 "%.2f us for two with a barrier between (a split-K decode's kernel and merge)\n",
                 copy->one_dispatch_us, copy->two_dispatches_us);
    benchmark::AddCustomContext("one_dispatch_us", std::to_string(copy->one_dispatch_us));
    benchmark::AddCustomContext("two_dispatches_us", std::to_string(copy->two_dispatches_us));
  }
  return true;
}

// Registers the cases --benchmark_filter selects (g_total counts them), with Google Benchmark's
// filter syntax: a leading '-' excludes the cases the rest matches.
void register_cases(const std::vector<BenchCase>& cases, const std::string& filter) {
  const bool exclude = !filter.empty() && filter[0] == '-';
  const std::regex wanted(filter.empty() ? "." : exclude ? filter.substr(1) : filter);
  for (const BenchCase& c : cases) {
    const std::string name = c.name();
    // Google Benchmark matches the filter against the full name, which ends in "/manual_time".
    if (std::regex_search(name + "/manual_time", wanted) == exclude) continue;
    ++g_total;
    benchmark::RegisterBenchmark(name.c_str(), bench_case, c)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
}

int main(int argc, char** argv) {
  BenchArgs a;
  if (std::optional<int> rc = parse_bench_args(argc, argv, a)) return *rc;
  g_path = a.path;
  g_svg = a.svg;
  if (a.timing) {
    setenv("MESA_SHADER_CACHE_DISABLE", "true", 0);
    setenv("__GL_SHADER_DISK_CACHE", "0", 0);
    return pipeline_timing(a.options);
  }
  Result<std::unique_ptr<Context>> ctx = Context::create(a.options);
  if (!ctx) {
    std::fprintf(stderr, "vkattn-bench: %s\n", ctx.status().to_string().c_str());
    return 1;
  }
  g_ctx = std::move(ctx).value();
  if (a.info) {
    const int rc =
        print_info(*g_ctx, a.shapes ? *a.shapes : std::vector<Shape>{Shape{1, 16, 4096, 128}}, g_path, stdout);
    g_ctx.reset();
    return rc;
  }
  const bool cpu = g_ctx->info().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (cpu) g_dispatches_per_sample = 1;
  std::fprintf(stderr, "vkattn-bench: device %s, preset %s\n", g_ctx->info().name.c_str(), a.preset_name.c_str());
  g_cases = select_cases(a, cpu);
  if (g_cases.empty()) {
    std::fprintf(stderr, "vkattn-bench: --preset=%s is not short, fa2, compare or decode\n", a.preset_name.c_str());
    return 2;
  }
  if ((a.decode_shapes || (!a.shapes && a.preset_name == "decode")) && !measure_copy_bandwidth_for_decode(cpu)) {
    return 1;
  }
  // Defaults as flags (before the caller's, which win), not per benchmark: per-benchmark
  // settings would append "/min_time:.../repeats:3" to every name and break anchored filters.
  std::string min_time = std::string("--benchmark_min_time=") + (cpu ? "0.05" : "0.5");
  std::string repetitions = "--benchmark_repetitions=3";
  std::string aggregates = "--benchmark_report_aggregates_only=true";
  a.rest.insert(a.rest.begin() + 1, {min_time.data(), repetitions.data(), aggregates.data()});
  int rest_argc = static_cast<int>(a.rest.size());
  benchmark::Initialize(&rest_argc, a.rest.data());
  register_cases(g_cases, a.filter);
  if (g_total == 0) {  // a typo or another device's case names: say so rather than time nothing
    std::fprintf(stderr,
                 "vkattn-bench: no case of preset %s on %s matches --benchmark_filter=%s "
                 "(--benchmark_list_tests=true lists them)\n",
                 a.preset_name.c_str(), g_ctx->info().name.c_str(), a.filter.c_str());
    g_ctx.reset();
    return 2;
  }
  benchmark::AddCustomContext("device", g_ctx->info().name);
  benchmark::AddCustomContext("preset", a.preset_name);
  if (g_copy_gbps > 0) benchmark::AddCustomContext("copy_GB/s", std::to_string(g_copy_gbps));
  TableReporter table;
  if (a.console) {
    benchmark::RunSpecifiedBenchmarks(&table);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  g_case.reset();
  if (a.options.capture_pipeline_statistics) print_pipeline_statistics(*g_ctx);
  g_ctx.reset();
  if (!g_svg.empty()) {
    if (!g_svg_written) return 1;  // write_svg said why
    std::fprintf(stderr, "vkattn-bench: wrote %s\n", g_svg.c_str());
  }
  if (!g_failed.empty()) {  // each printed its ERROR line; a script must see it too
    std::fprintf(stderr, "vkattn-bench: %zu of %zu cases failed (first: %s)\n", g_failed.size(), g_total,
                 g_first_failed.c_str());
    return 1;
  }
  return 0;
}
