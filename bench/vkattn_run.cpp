// vkattn-run: one attention call on tensors read from .npy files, to check vkattn against the
// framework you trust. Every mask, score_mod, layout and path option is a flag; O and LSE (and,
// with --do, dQ, dK, dV and the parameter gradients) are written as .npy. Every input is read and
// checked before anything is written.
//
// The steps, each in its own file under bench/run/: the command line (args), the .npy inputs
// (inputs), the AttentionDesc they describe (problem), and the comparison with references
// (check). This file binds the tensors on the device, runs the plans and writes the outputs.
//
// Flags and the shapes they take: kUsage below (printed by --help).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpu_timer.hpp"
#include "npy.hpp"
#include "run/args.hpp"
#include "run/check.hpp"
#include "run/inputs.hpp"
#include "run/problem.hpp"
#include "vkattn/vkattn.hpp"

namespace {

using namespace vkattn;
using namespace vkattn::run_tool;

constexpr const char* kUsage =
    "usage: vkattn-run --q=q.npy --k=k.npy --v=v.npy [--do=do.npy] [--out=DIR] [options]\n"
    "  layouts  --layout=bhsd [B, H, S, D] (default), bshd [B, S, H, D], sbhd [S, B, H, D], thd [T, H, D]\n"
    "           (packed varlen; needs --cu-seqlens-q/-k). Outputs keep their input's layout; LSE is\n"
    "           [B, Hq, Sq] ([Hq, Tq] for thd).\n"
    "  masks    --causal[=0|1] --align=br|tl --window-left=N --window-right=N --doc-ids-q=F --doc-ids-kv=F\n"
    "           --seq-lens-q=F --seq-lens-kv=F (int32 [B]) --cu-seqlens-q=F --cu-seqlens-k=F (int32 [B + 1])\n"
    "  mods     --softcap=C --alibi-slopes=F ([Hq] or [B, Hq]) --rel-pos-table=F ([Hq, 2M + 1])\n"
    "           --bias=F ([B|1, Hq|1, Sq|1, Sk], f32 or f16) --sinks=F ([Hq])\n"
    "  qk       --q-norm=rms|l2 --k-norm=rms|l2 --norm-eps=E --norm-scale=S (l2) --q-norm-weight=F\n"
    "           --k-norm-weight=F (fp32 [Dk], for rms) --rope=half|pairs --rope-theta=T --rotary-dim=N\n"
    "           --q-positions=F --k-positions=F (int32 [B, Sq] / [B, Sk], thd [T]) --rope-grid=AxB[xC]\n"
    "           (vkattn/qk_transform.hpp; with --do also dq_norm_weight and dk_norm_weight)\n"
    "  paged    --block-table=F (int32 [B, max_blocks]) --cache-lens=F (int32 [B]): --k and --v are block\n"
    "           pools (bhsd [num_blocks, Hkv, block_size, D]; bshd [num_blocks, block_size, Hkv, D], vLLM's),\n"
    "           key j of sequence b is row j % block_size of block block_table[b, j / block_size], and\n"
    "           sequence b has cache_lens[b] keys (vkattn/paged_kv.hpp); Sk (bias, --k-positions) is the\n"
    "           longest length (at least 1). Forward only\n"
    "  dropout  --dropout=P (in [0, 1)) --seed=N (< 2^63, default 0) --offset=N (uint32, default 0): the\n"
    "           mask of vkattn/dropout.hpp, the same in the forward and the backward\n"
    "  other    --scale=S --path=auto|scalar|coopmat|coopmat_khr|coopmat2 --device=<index|name> --deterministic=0|1\n"
    "           --storage=bf16 (Q, K, V, dO given as f32 are stored as bf16 on the device, rounded to\n"
    "           nearest even; O, dQ, dK, dV are written back as f32 holding the bf16 values exactly)\n"
    "           --validation[=0|1] (under VK_LAYER_KHRONOS_validation; any message makes the exit status 3)\n"
    "  check    --check=NAME=REF.npy[,NAME=REF.npy...]: compare output NAME (o, lse, dq, ...) with a\n"
    "           reference of the same shape and print its largest absolute and relative errors and the\n"
    "           elements where one side is NaN or infinite and the other is not (a missing or misshaped\n"
    "           reference, or a name this run does not write, exits 1 before anything is written)\n"
    "           --tol=ATOL[,RTOL] (with --check): also count the elements with |out - ref| > ATOL +\n"
    "           RTOL |ref| (RTOL default 0) or a NaN or infinity mismatch; any such element: exit 4\n"
    "Writes o.npy and lse.npy (with --do also dq, dk, dv and the parameter gradients) into --out (default:\n"
    "the current directory) and says where. Outputs start as NaN on the device, so an element no\n"
    "kernel wrote shows as NaN.\n"
    "Exit status: 0 done; 1 an input, file or flag value refused (before anything is written) or a\n"
    "failure of the device, a plan or a file write; 2 a command line it cannot parse (unknown or\n"
    "repeated flag, --causal, --validation or --deterministic not 0 or 1, a flag without its value,\n"
    "missing --q/--k/--v);\n"
    "3 a validation message under --validation (before 4); 4 a --check beyond --tol (outputs written).\n";

std::atomic<int> g_validation_messages{0};

Result<Tensor> upload(Context& ctx, const npy::Array& a) {
  Result<Tensor> t = Tensor::create_bytes(ctx, std::max<VkDeviceSize>(a.data.size(), 4), a.dtype);
  if (!t) return t;
  if (!a.data.empty()) {
    if (Status s = t->upload_bytes(a.data); !s) return s;
  }
  return t;
}

// --storage=bf16: an fp32 array rounded to bf16 on the device (NumPy has no bf16 type).
Result<Tensor> upload_bf16(Context& ctx, const npy::Array& a) {
  Result<Tensor> t =
      Tensor::create_bytes(ctx, static_cast<VkDeviceSize>(std::max<std::int64_t>(a.numel(), 2)) * 2, DType::kBF16);
  if (!t) return t;
  std::vector<float> values = a.to_float();
  values.resize(static_cast<std::size_t>(t->numel()), 0.0f);
  if (Status s = t->upload(values); !s) return s;
  return t;
}

// An output of `numel` elements, poisoned with NaN so that an element no kernel writes shows in
// the .npy files.
Result<Tensor> poisoned(Context& ctx, DType dtype, std::int64_t numel) {
  Result<Tensor> t =
      Tensor::create_bytes(ctx, static_cast<VkDeviceSize>(std::max<std::int64_t>(numel, 1)) * dtype_size(dtype), dtype);
  if (!t) return t;
  if (Status s = t->fill(std::numeric_limits<float>::quiet_NaN()); !s) return s;
  return t;
}

// A [B, H, S, D] view of `t` stored in `layout` (thd: [T, H, D]).
TensorView view_in(const Tensor& t, DType dtype, const std::string& layout, const Dims& d) {
  const VkDeviceSize size = t.view().buffer_size;
  if (layout == "thd") return TensorView::contiguous(t.buffer(), size, dtype, {d.s, d.h, d.d});
  const Layout l = layout == "bshd" ? Layout::kBSHD : layout == "sbhd" ? Layout::kSBHD : Layout::kBHSD;
  return TensorView::attention(t.buffer(), size, dtype, l, d.b, d.h, d.s, d.d);
}

// The inputs on the device, the outputs (poisoned), and the views the plans take.
struct Bound {
  std::map<std::string, Tensor> inputs;  // by flag
  std::optional<Tensor> o, lse;
  std::map<std::string, Tensor> grads;  // dq, dk, dv and the parameter gradients (dbias ...)
  ForwardTensors ft;
  BackwardTensors bt;
};

// The dense view of input `name` in its file's own shape (bias, slopes, tables, ids ...).
TensorView file_view(const Inputs& in, const Bound& bound, const std::string& name) {
  const npy::Array& arr = in.at(name);
  TensorView v = bound.inputs.at(name).view();
  v.rank = static_cast<int>(arr.shape.size());
  std::int64_t stride = 1;
  for (int i = v.rank - 1; i >= 0; --i) {
    v.shape[static_cast<std::size_t>(i)] = arr.shape[static_cast<std::size_t>(i)];
    v.strides[static_cast<std::size_t>(i)] = stride;
    stride *= arr.shape[static_cast<std::size_t>(i)];
  }
  return v;
}

Status bind_forward(Context& ctx, const Inputs& in, const Problem& p, Bound& bound) {
  const DType dtype = p.desc.dtype;
  for (const auto& [name, arr] : in.files) {
    const bool storage = name == "q" || name == "k" || name == "v" || name == "do";
    Result<Tensor> t = in.bf16 && storage ? upload_bf16(ctx, arr) : upload(ctx, arr);
    if (!t) return t.status();
    bound.inputs.emplace(name, std::move(t).value());
  }
  const Dims d_o = in.o();
  Result<Tensor> o = poisoned(ctx, dtype, d_o.b * d_o.h * d_o.s * d_o.d);
  if (!o) return o.status();
  Result<Tensor> lse = poisoned(ctx, DType::kF32, in.q.b * in.q.h * in.q.s);
  if (!lse) return lse.status();
  bound.o.emplace(std::move(o).value());
  bound.lse.emplace(std::move(lse).value());

  ForwardTensors& ft = bound.ft;
  ft.q = view_in(bound.inputs.at("q"), dtype, in.layout, in.q);
  ft.k = view_in(bound.inputs.at("k"), dtype, in.layout, in.k);
  ft.v = view_in(bound.inputs.at("v"), dtype, in.layout, in.v);
  ft.o = view_in(*bound.o, dtype, in.layout, d_o);
  const VkDeviceSize lse_size = bound.lse->view().buffer_size;
  ft.lse = in.thd() ? TensorView::contiguous(bound.lse->buffer(), lse_size, DType::kF32, {in.q.h, in.q.s})
                  : TensorView::contiguous(bound.lse->buffer(), lse_size, DType::kF32, {in.q.b, in.q.h, in.q.s});
  const auto optional_file = [&](const char* name, std::optional<TensorView>& into) {
    if (in.has(name)) into = file_view(in, bound, name);
  };
  optional_file("bias", ft.bias);
  optional_file("alibi-slopes", ft.alibi_slopes);
  optional_file("rel-pos-table", ft.rel_pos_table);
  optional_file("sinks", ft.sinks);
  optional_file("doc-ids-q", ft.doc_ids_q);
  optional_file("doc-ids-kv", ft.doc_ids_kv);
  optional_file("q-norm-weight", ft.q_norm_weight);
  optional_file("k-norm-weight", ft.k_norm_weight);
  optional_file("q-positions", ft.q_positions);
  optional_file("k-positions", ft.k_positions);
  ft.dropout = p.rng;
  return Status::ok();
}

// With --do: dQ, dK, dV (poisoned, in the inputs' layout) and a gradient for each parameter file
// given (fp32, in the file's shape).
Status bind_backward(Context& ctx, const Inputs& in, const Problem& p, Bound& bound) {
  const DType dtype = p.desc.dtype;
  const ForwardTensors& ft = bound.ft;
  BackwardTensors& bt = bound.bt;
  for (const auto& [name, like] : std::map<std::string, std::string>{{"dq", "q"}, {"dk", "k"}, {"dv", "v"}}) {
    Result<Tensor> g = poisoned(ctx, dtype, in.at(like).numel());
    if (!g) return g.status();
    bound.grads.emplace(name, std::move(g).value());
  }
  bt.q = ft.q, bt.k = ft.k, bt.v = ft.v, bt.o = ft.o, bt.lse = *ft.lse;
  bt.d_o = view_in(bound.inputs.at("do"), dtype, in.layout, in.o());
  bt.dq = view_in(bound.grads.at("dq"), dtype, in.layout, in.q);
  bt.dk = view_in(bound.grads.at("dk"), dtype, in.layout, in.k);
  bt.dv = view_in(bound.grads.at("dv"), dtype, in.layout, in.v);
  bt.bias = ft.bias, bt.alibi_slopes = ft.alibi_slopes, bt.rel_pos_table = ft.rel_pos_table, bt.sinks = ft.sinks;
  bt.doc_ids_q = ft.doc_ids_q, bt.doc_ids_kv = ft.doc_ids_kv;
  bt.dropout = ft.dropout;
  bt.q_norm_weight = ft.q_norm_weight, bt.k_norm_weight = ft.k_norm_weight;
  bt.q_positions = ft.q_positions, bt.k_positions = ft.k_positions;
  const auto param_grad = [&](const char* name, const char* input, std::optional<TensorView>& into) -> Status {
    if (!in.has(input)) return Status::ok();
    Result<Tensor> g = poisoned(ctx, DType::kF32, in.at(input).numel());
    if (!g) return g.status();
    TensorView v = file_view(in, bound, input);
    v.buffer = g->buffer(), v.buffer_size = g->view().buffer_size, v.dtype = DType::kF32;
    into = v;
    bound.grads.emplace(name, std::move(g).value());
    return Status::ok();
  };
  for (Status s :
       {param_grad("dbias", "bias", bt.dbias), param_grad("drel_pos_table", "rel-pos-table", bt.drel_pos_table),
        param_grad("dsinks", "sinks", bt.dsinks), param_grad("dq_norm_weight", "q-norm-weight", bt.dq_norm_weight),
        param_grad("dk_norm_weight", "k-norm-weight", bt.dk_norm_weight)}) {
    if (!s) return s;
  }
  return Status::ok();
}

// Runs the plan once, timed with GPU timestamps where the device has them (`timer`, null where it
// has none); prints the variant and the time.
template <class Plan, class Tensors>
Status run_timed(bench::GpuTimer* timer, const char* pass, Plan& plan, const Tensors& tensors) {
  std::printf("%s: %s\n", pass, plan.variant_name().c_str());
  if (timer == nullptr) return plan.run(tensors);
  Result<double> t = timer->time([&](VkCommandBuffer cmd) { return plan.record(cmd, tensors); });
  if (!t) return t.status();
  std::printf("%s GPU time: %.3f ms\n", pass, *t * 1e3);
  return Status::ok();
}

// The outputs downloaded as .npy arrays, in the order they are written (o, lse, then the
// gradients by name). bf16 outputs are widened exactly to f32 (.npy has no bf16).
struct Outputs {
  std::map<std::string, npy::Array> arrays;
  std::vector<std::string> order;
};

Status download(Outputs& out, const std::string& name, const Tensor& t, DType dtype, std::vector<std::int64_t> shape) {
  npy::Array arr;
  arr.shape = std::move(shape);
  if (dtype == DType::kBF16) {
    Result<std::vector<float>> values = t.download();
    if (!values) return values.status();
    dtype = DType::kF32;
    arr.data.resize(values->size() * 4);
    std::memcpy(arr.data.data(), values->data(), arr.data.size());
  } else {
    Result<std::vector<std::byte>> bytes = t.download_bytes();
    if (!bytes) return bytes.status();
    arr.data = std::move(bytes).value();
  }
  arr.dtype = dtype;
  arr.data.resize(static_cast<std::size_t>(arr.numel()) * dtype_size(dtype));
  out.arrays[name] = std::move(arr);
  out.order.push_back(name);
  return Status::ok();
}

Result<Outputs> download_outputs(const Inputs& in, const Problem& p, const Bound& bound) {
  Outputs out;
  std::vector<std::int64_t> o_shape = in.at("q").shape;
  o_shape.back() = in.v.d;
  if (Status s = download(out, "o", *bound.o, p.desc.dtype, o_shape); !s) return s;
  const std::vector<std::int64_t> lse_shape =
      in.thd() ? std::vector<std::int64_t>{in.q.h, in.q.s} : std::vector<std::int64_t>{in.q.b, in.q.h, in.q.s};
  if (Status s = download(out, "lse", *bound.lse, DType::kF32, lse_shape); !s) return s;
  const std::map<std::string, std::string> like = {{"dq", "q"},
                                                   {"dk", "k"},
                                                   {"dv", "v"},
                                                   {"dbias", "bias"},
                                                   {"drel_pos_table", "rel-pos-table"},
                                                   {"dsinks", "sinks"},
                                                   {"dq_norm_weight", "q-norm-weight"},
                                                   {"dk_norm_weight", "k-norm-weight"}};
  for (const auto& [name, t] : bound.grads) {
    const bool param = name != "dq" && name != "dk" && name != "dv";
    if (Status s = download(out, name, t, param ? DType::kF32 : p.desc.dtype, in.at(like.at(name)).shape); !s) {
      return s;
    }
  }
  return out;
}

// The context --device, --validation ask for (under validation: no pipeline cache left behind,
// and every validation message printed and counted for the exit status).
Result<std::unique_ptr<Context>> make_context(const Args& a) {
  ContextOptions options;
  if (a.has("device")) options.device = a.get("device");
  options.pipeline_cache.persist = !a.has("validation");  // checked runs leave no cache behind
  if (a.has("validation")) {
    options.enable_validation = true;
    options.log = [](LogLevel, std::string_view message) {
      if (message.rfind("validation:", 0) == 0) {
        std::fprintf(stderr, "vkattn-run: %.*s\n", static_cast<int>(message.size()), message.data());
        g_validation_messages.fetch_add(1);
      }
    };
  }
  return Context::create(options);
}

// Exit statuses (kUsage): 0 done, 1 refused or failed, 2 usage, 4 a --check beyond --tol (3, a
// validation message, is main's).
int run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  Result<Args> parsed = parse_args(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "vkattn-run: %s\n", parsed.status().message().c_str());
    return 2;
  }
  const Args& a = *parsed;
  const auto die = [](const Status& s) {
    std::fprintf(stderr, "vkattn-run: %s\n", s.message().c_str());
    return 1;
  };

  // 1. Read and check every input before touching the device or writing anything.
  Result<Inputs> in = read_inputs(a);
  if (!in) return die(in.status());
  std::map<std::string, npy::Array> checks;
  if (a.has("check")) {
    Result<std::map<std::string, npy::Array>> refs = read_references(a.get("check"));
    if (!refs) return die(refs.status());
    checks = std::move(refs).value();
  }
  std::optional<Tolerance> tol;
  if (a.has("tol")) {
    if (!a.has("check")) return die(fail("--tol=" + a.get("tol") + " needs --check (what to compare)"));
    Result<Tolerance> t = parse_tolerance(a.get("tol"));
    if (!t) return die(t.status());
    tol = *t;
  }
  Result<Problem> problem = problem_of(a, *in);
  if (!problem) return die(problem.status());

  // 2. Device, tensors and plans (which check the tensors against the desc).
  Result<std::unique_ptr<Context>> context = make_context(a);
  if (!context) return die(context.status());
  Context* ctx = context->get();
  Bound bound;
  if (Status s = bind_forward(*ctx, *in, *problem, bound); !s) return die(s);
  Result<ForwardPlan> fwd = ForwardPlan::create(*ctx, problem->desc);
  if (!fwd) return die(fwd.status());
  if (Status s = fwd->validate(bound.ft); !s) return die(s);
  std::optional<BackwardPlan> bwd;
  if (in->has("do")) {
    Result<BackwardPlan> b = BackwardPlan::create(*ctx, problem->desc, problem->bwd_options);
    if (!b) return die(b.status());
    bwd.emplace(std::move(b).value());
    if (Status s = bind_backward(*ctx, *in, *problem, bound); !s) return die(s);
    if (Status s = bwd->validate(bound.bt); !s) return die(s);
  }

  // 3. Run (timed on the GPU).
  std::printf("device: %s\n", ctx->info().name.c_str());
  Result<bench::GpuTimer> timer = bench::GpuTimer::create(*ctx);
  bench::GpuTimer* timing = timer ? &*timer : nullptr;
  if (Status s = run_timed(timing, "forward", *fwd, bound.ft); !s) return die(s);
  if (bwd) {
    if (Status s = run_timed(timing, "backward", *bwd, bound.bt); !s) return die(s);
  }

  // 4. Outputs: downloaded, checked against the --check references' names and shapes, then written.
  Result<Outputs> out = download_outputs(*in, *problem, bound);
  if (!out) return die(out.status());
  if (Status s = check_references(checks, out->arrays); !s) return die(s);
  const std::filesystem::path out_dir = a.has("out") ? std::filesystem::path(a.get("out")) : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  std::printf("writing into %s\n", std::filesystem::absolute(out_dir).lexically_normal().string().c_str());
  for (const std::string& name : out->order) {
    const std::string path = (out_dir / (name + ".npy")).string();
    if (Status s = npy::save(path, out->arrays.at(name)); !s) return die(s);
    std::printf("wrote %s %s\n", path.c_str(), npy::shape_text(out->arrays.at(name).shape).c_str());
  }
  const int failed = check_outputs(checks, out->arrays, tol);
  if (failed != 0) {
    std::fprintf(stderr, "vkattn-run: %d checked output%s beyond --tol=%s\n", failed, failed == 1 ? "" : "s",
                 a.get("tol").c_str());
    return 4;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int rc = run(argc, argv);
  if ((rc == 0 || rc == 4) && g_validation_messages.load() != 0) return 3;  // before a --check beyond --tol
  return rc;
}
