// vkattn-run: one attention call on tensors read from .npy files, to check vkattn against the
// framework you trust. Every mask, score_mod, layout and path option is a flag; O and LSE (and,
// with --do, dQ, dK, dV and the parameter gradients) are written as .npy. Every input is read and
// checked before anything is written.
//
// Flags and the shapes they take: kUsage below (printed by --help).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gpu_timer.hpp"
#include "npy.hpp"
#include "vkattn/vkattn.hpp"

namespace {

using namespace vkattn;

constexpr const char* kFileFlags[] = {
    "q",     "k",         "v",          "do",           "bias",         "alibi-slopes", "rel-pos-table",
    "sinks", "doc-ids-q", "doc-ids-kv", "cu-seqlens-q", "cu-seqlens-k", "seq-lens-q",   "seq-lens-kv",
    "q-norm-weight", "k-norm-weight", "q-positions", "k-positions", "block-table", "cache-lens"};
constexpr const char* kValueFlags[] = {"out",           "layout",  "align",        "window-left", "window-right",
                                       "softcap",       "scale",   "path",         "device",      "deterministic",
                                       "check",         "storage", "dropout",      "seed",        "offset",
                                       "q-norm",        "k-norm",  "norm-eps",     "norm-scale",  "rope",
                                       "rope-theta",    "rotary-dim", "rope-grid",   "tol"};
constexpr const char* kSwitches[] = {"causal", "validation"};

struct Args {
  std::map<std::string, std::string> values;
  bool has(const std::string& k) const { return values.count(k) != 0; }
  const std::string& get(const std::string& k) const { return values.at(k); }
};

Status fail(const std::string& message) { return Status(ErrorCode::kInvalidArgument, message); }

Result<Args> parse_args(int argc, char** argv) {
  Args a;
  std::set<std::string> seen;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) return fail("unexpected argument '" + s + "' (flags are --name=value)");
    s = s.substr(2);
    const std::size_t eq = s.find('=');
    const std::string key = s.substr(0, eq);
    bool known = false;
    for (const char* f : kFileFlags) known |= key == f;
    for (const char* f : kValueFlags) known |= key == f;
    bool is_switch = false;
    for (const char* f : kSwitches) is_switch |= key == f;
    if (!known && !is_switch) return fail("unknown flag --" + key);
    if (!seen.insert(key).second) return fail("--" + key + " is given twice");
    if (is_switch) {
      // --causal, --causal=1: on; --causal=0: off (the flag is then absent).
      const std::string v = eq == std::string::npos ? std::string(1, '1') : s.substr(eq + 1);
      if (v != "0" && v != "1") return fail("--" + key + "=" + v + " is not 0 or 1");
      if (v == "1") a.values.insert_or_assign(key, v);
    } else {
      if (eq == std::string::npos) return fail("--" + key + " needs a value (--" + key + "=...)");
      if (eq + 1 == s.size()) return fail("--" + key + "= has an empty value");
      a.values[key] = s.substr(eq + 1);
    }
  }
  for (const char* f : {"q", "k", "v"}) {
    if (!a.has(f)) return fail(std::string("--") + f + "=FILE is required");
  }
  return a;
}

Result<std::int64_t> integer(const Args& a, const std::string& key) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(a.get(key), &used);
    if (used != a.get(key).size()) throw 0;
    return static_cast<std::int64_t>(v);
  } catch (...) {
    return fail("--" + key + "=" + a.get(key) + " is not an integer");
  }
}

// A number flag as a double, refused when it is not a number or a finite value beyond `largest`
// (the range of `type`, "float" or "double"; 1e999 overflows both; an explicit "inf" passes to the
// plan, which checks each value's range). Subnormals are taken.
Result<double> number(const Args& a, const std::string& key, double largest, const char* type) {
  const std::string& text = a.get(key);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return fail("--" + key + "=" + text + " is not a number");
  const bool overflowed = errno == ERANGE && std::isinf(v);
  if (overflowed || (std::isfinite(v) && std::abs(v) > largest)) return fail("--" + key + "=" + text + " is outside the " + type + " range");
  return v;
}

// A float flag (softcap, scale, eps, dropout ...).
Result<float> real(const Args& a, const std::string& key) {
  Result<double> v = number(a, key, std::numeric_limits<float>::max(), "float");
  if (!v) return v.status();
  return static_cast<float>(*v);
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}

Status expect_rank(const npy::Array& a, const std::string& flag, std::size_t rank, const std::string& dims) {
  if (a.shape.size() != rank) {
    return fail("--" + flag + ": shape " + shape_text(a.shape) + " has rank " + std::to_string(a.shape.size()) +
                ", expected " + std::to_string(rank) + " " + dims);
  }
  return Status::ok();
}

Status expect_dtype(const npy::Array& a, const std::string& flag, std::initializer_list<DType> allowed) {
  for (DType d : allowed) {
    if (a.dtype == d) return Status::ok();
  }
  std::string names;
  for (DType d : allowed) names += (names.empty() ? "" : " or ") + std::string(to_string(d));
  return fail("--" + flag + ": dtype " + to_string(a.dtype) + " is not allowed here (expected " + names + ")");
}

std::vector<std::int32_t> ints(const npy::Array& a) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(a.numel()));
  std::memcpy(v.data(), a.data.data(), v.size() * 4);
  return v;
}

// Logical [B, H, S, D] of a file in `layout` (file dims in that layout's order).
struct Dims {
  std::int64_t b = 1, h = 1, s = 1, d = 1;
};
Dims dims_of(const npy::Array& a, const std::string& layout) {
  const auto& x = a.shape;
  if (layout == "bshd") return {x[0], x[2], x[1], x[3]};
  if (layout == "sbhd") return {x[1], x[2], x[0], x[3]};
  if (layout == "thd") return {1, x[1], x[0], x[2]};
  return {x[0], x[1], x[2], x[3]};
}

struct DeviceArray {
  npy::Array host;
  Tensor dev;
};

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
  Result<Tensor> t = Tensor::create_bytes(ctx, static_cast<VkDeviceSize>(std::max<std::int64_t>(a.numel(), 2)) * 2,
                                          DType::kBF16);
  if (!t) return t;
  std::vector<float> values = a.to_float();
  values.resize(static_cast<std::size_t>(t->numel()), 0.0f);
  if (Status s = t->upload(values); !s) return s;
  return t;
}

// A [B, H, S, D] view of `t` stored in `layout` (thd: [T, H, D]).
TensorView view_in(const Tensor& t, DType dtype, const std::string& layout, const Dims& d) {
  const VkDeviceSize size = t.view().buffer_size;
  if (layout == "thd") return TensorView::contiguous(t.buffer(), size, dtype, {d.s, d.h, d.d});
  const Layout l = layout == "bshd" ? Layout::kBSHD : layout == "sbhd" ? Layout::kSBHD : Layout::kBHSD;
  return TensorView::attention(t.buffer(), size, dtype, l, d.b, d.h, d.s, d.d);
}

std::atomic<int> g_validation_messages{0};

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
    "repeated flag, --causal or --validation not 0 or 1, a flag without its value, missing --q/--k/--v);\n"
    "3 a validation message under --validation (before 4); 4 a --check beyond --tol (outputs written).\n";

// --check, before anything is written: every reference names an output of this run and has its
// shape. The message lists the outputs, or gives both shapes.
Status check_references(const std::map<std::string, npy::Array>& checks, const std::map<std::string, npy::Array>& outputs) {
  for (const auto& [name, ref] : checks) {
    const auto it = outputs.find(name);
    if (it == outputs.end()) {
      std::string names;
      for (const auto& [n, unused] : outputs) names += (names.empty() ? "" : ", ") + n;
      return fail("--check: no output named " + name + " (this run writes " + names + ")");
    }
    if (it->second.shape != ref.shape) {
      return fail("--check: " + name + " is " + shape_text(it->second.shape) + ", its reference " + shape_text(ref.shape));
    }
  }
  return Status::ok();
}

// --tol=ATOL[,RTOL]: how far a checked output may be from its reference.
struct Tolerance {
  double atol = 0.0, rtol = 0.0;
};

Result<Tolerance> parse_tolerance(const std::string& text) {
  Tolerance t;
  const std::size_t comma = text.find(',');
  const std::string parts[] = {text.substr(0, comma), comma == std::string::npos ? "0" : text.substr(comma + 1)};
  double* into[] = {&t.atol, &t.rtol};
  for (int i = 0; i < 2; ++i) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(parts[i].c_str(), &end);
    if (parts[i].empty() || end != parts[i].c_str() + parts[i].size() || errno != 0 || !std::isfinite(v) || v < 0) {
      return fail("--tol=" + text + ": \"" + parts[i] + "\" is not a finite number >= 0 (--tol=ATOL or ATOL,RTOL)");
    }
    *into[i] = v;
  }
  return t;
}

// --check: each named output against its reference (check_references passed). Prints the largest
// absolute error, the largest relative one (|out - ref| / |ref| where ref != 0), the elements
// where exactly one side is NaN, and those where the two differ and one is infinite (-inf against
// a finite LSE, say); with `tol`, also the elements beyond it (either mismatch, or |out - ref| >
// atol + rtol |ref|). Returns the number of outputs with any element beyond `tol` (0 without it).
int check_outputs(const std::map<std::string, npy::Array>& checks, const std::map<std::string, npy::Array>& outputs,
                  const std::optional<Tolerance>& tol) {
  int failed = 0;
  for (const auto& [name, ref] : checks) {
    const auto it = outputs.find(name);
    const std::vector<float> out = it->second.to_float();
    const std::vector<float> expected = ref.to_float();
    double max_abs = 0.0, max_rel = 0.0;
    std::size_t nan = 0, inf = 0, beyond = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (std::isnan(out[i]) != std::isnan(expected[i])) ++nan, ++beyond;
      if (std::isnan(out[i]) || std::isnan(expected[i]) || out[i] == expected[i]) continue;  // equal infinities too
      const double err = std::fabs(static_cast<double>(out[i]) - expected[i]);
      max_abs = std::max(max_abs, err);
      if (std::isinf(out[i]) || std::isinf(expected[i])) {  // they differ, so the error is infinite
        ++inf, ++beyond;
        max_rel = std::numeric_limits<double>::infinity();
        continue;
      }
      if (expected[i] != 0.0f) max_rel = std::max(max_rel, err / std::fabs(static_cast<double>(expected[i])));
      if (tol && err > tol->atol + tol->rtol * std::fabs(static_cast<double>(expected[i]))) ++beyond;
    }
    std::printf("check %s: max abs error %.3g, max rel error %.3g, %zu NaN mismatches, %zu infinity mismatches",
                name.c_str(), max_abs, max_rel, nan, inf);
    if (tol) std::printf(", %zu beyond --tol (atol %.3g, rtol %.3g)", beyond, tol->atol, tol->rtol);
    std::printf(" (%zu elements)\n", out.size());
    if (tol && beyond != 0) ++failed;
  }
  return failed;
}

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
  auto die = [](const Status& s) {
    std::fprintf(stderr, "vkattn-run: %s\n", s.message().c_str());
    return 1;
  };
  const std::string layout = a.has("layout") ? a.get("layout") : "bhsd";
  if (layout != "bhsd" && layout != "bshd" && layout != "sbhd" && layout != "thd") {
    return die(fail("--layout=" + layout + " is not bhsd, bshd, sbhd or thd"));
  }
  const bool bf16 = a.has("storage");
  if (bf16 && a.get("storage") != "bf16") {
    return die(fail("--storage=" + a.get("storage") + " is not bf16 (f32 and f16 storage follow the .npy dtype)"));
  }
  const std::filesystem::path out_dir = a.has("out") ? std::filesystem::path(a.get("out")) : std::filesystem::path(".");
  // --check=NAME=FILE,...: the references, read (and their names checked) before any work.
  std::map<std::string, npy::Array> checks;
  if (a.has("check")) {
    std::string list = a.get("check");
    for (std::size_t start = 0; start <= list.size();) {
      const std::size_t end = std::min(list.find(',', start), list.size());
      const std::string item = list.substr(start, end - start);
      const std::size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
        return die(fail("--check: '" + item + "' is not NAME=REF.npy"));
      }
      Result<npy::Array> ref = npy::load(item.substr(eq + 1));
      if (!ref) return die(ref.status());
      if (checks.count(item.substr(0, eq)) != 0) return die(fail("--check: " + item.substr(0, eq) + " is given twice"));
      checks[item.substr(0, eq)] = std::move(ref).value();
      start = end + 1;
    }
  }

  std::optional<Tolerance> tol;
  if (a.has("tol")) {
    if (!a.has("check")) return die(fail("--tol=" + a.get("tol") + " needs --check (what to compare)"));
    Result<Tolerance> t = parse_tolerance(a.get("tol"));
    if (!t) return die(t.status());
    tol = *t;
  }
  // 1. Read and check every file before touching the device or writing anything.
  std::map<std::string, npy::Array> files;
  for (const char* f : kFileFlags) {
    if (!a.has(f)) continue;
    Result<npy::Array> arr = npy::load(a.get(f));
    if (!arr) return die(arr.status());
    files.emplace(f, std::move(arr).value());
  }
  const bool thd = layout == "thd";
  const std::size_t rank = thd ? 3 : 4;
  const std::string dims_text = thd ? "[T, H, D]" : "(" + layout + ")";
  for (const char* f : {"q", "k", "v", "do"}) {
    if (!files.count(f)) continue;
    if (Status s = expect_rank(files.at(f), f, rank, dims_text); !s) return die(s);
    if (Status s = expect_dtype(files.at(f), f, {DType::kF32, DType::kF16}); !s) return die(s);
    if (files.at(f).dtype != files.at("q").dtype) return die(fail(std::string("--") + f + ": dtype differs from --q"));
    if (bf16 && files.at(f).dtype != DType::kF32) {
      return die(fail(std::string("--") + f + ": --storage=bf16 takes f32 arrays (this one is " +
                      to_string(files.at(f).dtype) + ")"));
    }
  }
  for (const char* f : {"doc-ids-q", "doc-ids-kv", "cu-seqlens-q", "cu-seqlens-k", "seq-lens-q", "seq-lens-kv",
                        "block-table", "cache-lens"}) {
    if (files.count(f)) {
      if (Status s = expect_dtype(files.at(f), f, {DType::kI32}); !s) return die(s);
    }
  }
  for (const char* f : {"q-positions", "k-positions"}) {
    if (files.count(f)) {
      if (Status s = expect_dtype(files.at(f), f, {DType::kI32}); !s) return die(s);
    }
  }
  for (const char* f : {"alibi-slopes", "rel-pos-table", "sinks", "q-norm-weight", "k-norm-weight"}) {
    if (files.count(f)) {
      if (Status s = expect_dtype(files.at(f), f, {DType::kF32}); !s) return die(s);
    }
  }
  if (files.count("bias")) {
    if (Status s = expect_rank(files.at("bias"), "bias", 4, "[B|1, Hq|1, Sq|1, Sk]"); !s) return die(s);
    if (Status s = expect_dtype(files.at("bias"), "bias", {DType::kF32, DType::kF16}); !s) return die(s);
  }
  if (thd != (files.count("cu-seqlens-q") && files.count("cu-seqlens-k"))) {
    return die(fail("--layout=thd and --cu-seqlens-q/--cu-seqlens-k go together"));
  }
  if (files.count("doc-ids-q") != files.count("doc-ids-kv"))
    return die(fail("--doc-ids-q and --doc-ids-kv go together"));
  const npy::Array& qf = files.at("q");
  const Dims dq = dims_of(qf, layout), dk = dims_of(files.at("k"), layout), dv = dims_of(files.at("v"), layout);
  // A paged cache: K and V are block pools ([num_blocks, Hkv, block_size, D] in dk, dv), addressed
  // through the block table.
  const bool paged = files.count("block-table") != 0;
  if (paged != (files.count("cache-lens") != 0)) return die(fail("--block-table and --cache-lens go together"));
  std::vector<std::int32_t> cache_lens;
  if (paged) {
    if (layout != "bhsd" && layout != "bshd") {
      return die(fail("--layout=" + layout + " with --block-table: the pools are bhsd or bshd"));
    }
    if (files.count("do")) return die(fail("--do with --block-table: the paged cache is forward only"));
    if (files.count("seq-lens-kv")) {
      return die(fail("--seq-lens-kv with --block-table: the cache's lengths are --cache-lens"));
    }
    const npy::Array& table = files.at("block-table");
    const npy::Array& lens = files.at("cache-lens");
    if (Status s = expect_rank(table, "block-table", 2, "[B, max_blocks]"); !s) return die(s);
    if (Status s = expect_rank(lens, "cache-lens", 1, "[B]"); !s) return die(s);
    if (table.shape[0] != dq.b || lens.shape[0] != dq.b) {
      return die(fail("--block-table " + shape_text(table.shape) + " and --cache-lens " + shape_text(lens.shape) +
                      " need B = " + std::to_string(dq.b) + " rows (Q's batch)"));
    }
    if (table.shape[1] < 1) return die(fail("--block-table: shape " + shape_text(table.shape) + " has no columns"));
    // Sk is the longest length; one past the table is named here (the plan would name desc.seq_k).
    cache_lens = ints(lens);
    for (std::size_t b = 0; b < cache_lens.size(); ++b) {
      if (cache_lens[b] > table.shape[1] * dk.s) {
        return die(fail("--cache-lens[" + std::to_string(b) + "] = " + std::to_string(cache_lens[b]) + " needs " +
                        std::to_string((cache_lens[b] + dk.s - 1) / dk.s) + " blocks of " + std::to_string(dk.s) +
                        "; --block-table has " + std::to_string(table.shape[1]) + " columns"));
      }
    }
  }
  if (files.count("do")) {
    const Dims dd = dims_of(files.at("do"), layout);
    if (dd.b != dq.b || dd.h != dq.h || dd.s != dq.s || dd.d != dv.d) {
      return die(
          fail("--do: shape " + shape_text(files.at("do").shape) + " does not match O (Q's shape with V's head dim)"));
    }
  }

  AttentionDesc desc;
  desc.dtype = bf16 ? DType::kBF16 : qf.dtype;
  desc.q_heads = dq.h;
  desc.kv_heads = dk.h;
  desc.head_dim = dq.d;
  desc.head_dim_v = dv.d;
  if (thd) {
    desc.sequences.cu_seqlens_q = ints(files.at("cu-seqlens-q"));
    desc.sequences.cu_seqlens_k = ints(files.at("cu-seqlens-k"));
    desc.batch = static_cast<std::int64_t>(desc.sequences.cu_seqlens_q.size()) - 1;
  } else {
    desc.batch = dq.b;
    desc.seq_q = dq.s;
    desc.seq_k = dk.s;
  }
  if (paged) {  // the plan checks the table's block ids and negative lengths
    desc.paged_kv.block_size = dk.s;
    desc.paged_kv.num_blocks = dk.b;
    desc.paged_kv.max_blocks = files.at("block-table").shape[1];
    desc.paged_kv.block_table = ints(files.at("block-table"));
    desc.seq_k = 1;
    for (std::int32_t len : cache_lens) desc.seq_k = std::max<std::int64_t>(desc.seq_k, len);
    desc.paged_kv.cache_lens = std::move(cache_lens);
  }
  if (files.count("seq-lens-q")) desc.sequences.seq_lens_q = ints(files.at("seq-lens-q"));
  if (files.count("seq-lens-kv")) desc.sequences.seq_lens_kv = ints(files.at("seq-lens-kv"));
  desc.mask.causal = a.has("causal");
  if (a.has("align")) {
    if (a.get("align") != "br" && a.get("align") != "tl")
      return die(fail("--align=" + a.get("align") + " is not br or tl"));
    desc.mask.align = a.get("align") == "tl" ? Align::kTopLeft : Align::kBottomRight;
  }
  for (const char* w : {"window-left", "window-right"}) {
    if (!a.has(w)) continue;
    Result<std::int64_t> v = integer(a, w);
    if (!v) return die(v.status());
    (std::string(w) == "window-left" ? desc.mask.window_left : desc.mask.window_right) = *v;
  }
  desc.mask.documents = files.count("doc-ids-q") != 0;
  if (a.has("softcap")) {
    Result<float> c = real(a, "softcap");
    if (!c) return die(c.status());
    desc.score_mod.softcap = *c;
  }
  for (const char* key : {"norm-eps", "norm-scale"}) {
    if (a.has(key) && !a.has("q-norm") && !a.has("k-norm")) return die(fail(std::string("--") + key + " needs --q-norm or --k-norm"));
  }
  for (const char* key : {"rope-theta", "rotary-dim", "rope-grid"}) {
    if (a.has(key) && !a.has("rope")) return die(fail(std::string("--") + key + " needs --rope"));
  }
  for (const char* side : {"q-norm", "k-norm"}) {
    if (!a.has(side)) continue;
    QKNorm& n = std::string(side) == "q-norm" ? desc.qk.q_norm : desc.qk.k_norm;
    const std::string& kind = a.get(side);
    if (kind != "rms" && kind != "l2") return die(fail(std::string("--") + side + "=" + kind + " is not rms or l2"));
    n.kind = kind == "rms" ? QKNormKind::kRMS : QKNormKind::kL2;
    for (const char* key : {"norm-eps", "norm-scale"}) {
      if (!a.has(key)) continue;
      Result<float> v = real(a, key);
      if (!v) return die(v.status());
      (std::string(key) == "norm-eps" ? n.eps : n.scale) = *v;
    }
  }
  if (a.has("rope")) {
    const std::string& style = a.get("rope");
    if (style != "half" && style != "pairs") return die(fail("--rope=" + style + " is not half or pairs"));
    desc.qk.rope.style = style == "half" ? RopeStyle::kRotateHalf : RopeStyle::kInterleaved;
    if (a.has("rope-theta")) {
      Result<double> t = number(a, "rope-theta", std::numeric_limits<double>::max(), "double");  // a double in the API (1.00000001 stays above 1)
      if (!t) return die(t.status());
      desc.qk.rope.theta = *t;
    }
    if (a.has("rotary-dim")) {
      Result<std::int64_t> r = integer(a, "rotary-dim");
      if (!r) return die(r.status());
      desc.qk.rope.rotary_dim = *r;
    }
    if (a.has("rope-grid")) {
      std::string g = a.get("rope-grid");
      for (std::size_t at = 0; at <= g.size();) {
        const std::size_t x = std::min(g.find('x', at), g.size());
        try {
          desc.qk.rope.grid.push_back(std::stoll(g.substr(at, x - at)));
        } catch (...) {
          return die(fail("--rope-grid=" + g + " is not AxB or AxBxC"));
        }
        at = x + 1;
      }
    }
    desc.qk.rope.positions = files.count("q-positions") != 0 || files.count("k-positions") != 0;
  }
  DropoutRng rng;
  if (a.has("dropout")) {
    Result<float> p = real(a, "dropout");
    if (!p) return die(p.status());
    desc.dropout.p = *p;  // checked by the plan (desc.dropout.p must be in [0, 1))
  }
  for (const char* key : {"seed", "offset"}) {
    if (!a.has(key)) continue;
    if (!a.has("dropout")) return die(fail(std::string("--") + key + " needs --dropout"));
    Result<std::int64_t> v = integer(a, key);
    const std::int64_t top = std::string(key) == "seed" ? std::numeric_limits<std::int64_t>::max() : 0xFFFFFFFFll;
    if (!v || *v < 0 || *v > top) {
      return die(fail(std::string("--") + key + "=" + a.get(key) + " is not an integer in [0, " + std::to_string(top) + "]"));
    }
    if (std::string(key) == "seed") rng.seed = static_cast<std::uint64_t>(*v);
    else rng.offset = static_cast<std::uint32_t>(*v);
  }
  if (a.has("scale")) {
    Result<float> c = real(a, "scale");
    if (!c) return die(c.status());
    desc.scale = *c;
  }
  if (files.count("alibi-slopes")) {
    desc.score_mod.alibi = files.at("alibi-slopes").shape.size() == 2 ? Alibi::kPerBatchHead : Alibi::kPerHead;
  }
  if (files.count("rel-pos-table")) {
    const auto& t = files.at("rel-pos-table").shape;
    if (t.size() != 2 || t[1] % 2 == 0) {
      return die(fail("--rel-pos-table: shape " + shape_text(t) + " is not [Hq, 2M + 1] (" +
                      (t.size() != 2 ? "rank " + std::to_string(t.size()) + ", expected 2"
                                     : "its last dim " + std::to_string(t[1]) + " is even") +
                      ")"));
    }
    desc.score_mod.rel_pos_max_distance = (t[1] - 1) / 2;
  }
  if (files.count("bias")) desc.score_mod.bias = files.at("bias").dtype;
  desc.score_mod.sinks = files.count("sinks") != 0;
  if (a.has("path")) {
    const std::string& p = a.get("path");
    const std::optional<KernelPath> path = kernel_path_from_string(p);
    if (!path) return die(fail("--path=" + p + " is not " + kKernelPathNames));
    desc.path = *path;
  }
  BackwardOptions bwd_options;
  if (a.has("deterministic")) {
    const std::string& v = a.get("deterministic");
    if (v != "0" && v != "1") {  // a usage error, exit 2 like a bad switch value
      std::fprintf(stderr, "vkattn-run: --deterministic=%s is not 0 or 1\n", v.c_str());
      return 2;
    }
    bwd_options.determinism = v == "0" ? Determinism::kFast : Determinism::kDeterministic;
  }

  // 2. Device, tensors and plans (which check the tensors against the desc).
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
  Result<std::unique_ptr<Context>> ctx_r = Context::create(options);
  if (!ctx_r) return die(ctx_r.status());
  Context& ctx = **ctx_r;
  std::map<std::string, Tensor> dev;
  for (const auto& [name, arr] : files) {
    const bool storage = name == "q" || name == "k" || name == "v" || name == "do";
    Result<Tensor> t = bf16 && storage ? upload_bf16(ctx, arr) : upload(ctx, arr);
    if (!t) return die(t.status());
    dev.emplace(name, std::move(t).value());
  }
  const Dims d_o{dq.b, dq.h, dq.s, dv.d};
  // Outputs start as NaN, so an element the kernels do not write shows in the .npy files.
  auto make = [&](DType dtype, std::int64_t numel) -> Result<Tensor> {
    Result<Tensor> t = Tensor::create_bytes(
        ctx, static_cast<VkDeviceSize>(std::max<std::int64_t>(numel, 1)) * dtype_size(dtype), dtype);
    if (!t) return t;
    if (Status s = t->fill(std::numeric_limits<float>::quiet_NaN()); !s) return s;
    return t;
  };
  const std::int64_t o_numel = d_o.b * d_o.h * d_o.s * d_o.d;
  const std::int64_t lse_numel = dq.b * dq.h * dq.s;
  Result<Tensor> o = make(desc.dtype, o_numel);
  Result<Tensor> lse = make(DType::kF32, lse_numel);
  if (!o || !lse) return die(!o ? o.status() : lse.status());

  ForwardTensors ft;
  ft.q = view_in(dev.at("q"), desc.dtype, layout, dq);
  ft.k = view_in(dev.at("k"), desc.dtype, layout, dk);
  ft.v = view_in(dev.at("v"), desc.dtype, layout, dv);
  ft.o = view_in(*o, desc.dtype, layout, d_o);
  ft.lse = thd ? TensorView::contiguous(lse->buffer(), lse->view().buffer_size, DType::kF32, {dq.h, dq.s})
               : TensorView::contiguous(lse->buffer(), lse->view().buffer_size, DType::kF32, {dq.b, dq.h, dq.s});
  auto shaped = [&](const std::string& name) {
    const npy::Array& arr = files.at(name);
    TensorView v = dev.at(name).view();
    v.rank = static_cast<int>(arr.shape.size());
    std::int64_t stride = 1;
    for (int i = v.rank - 1; i >= 0; --i) {
      v.shape[static_cast<std::size_t>(i)] = arr.shape[static_cast<std::size_t>(i)];
      v.strides[static_cast<std::size_t>(i)] = stride;
      stride *= arr.shape[static_cast<std::size_t>(i)];
    }
    return v;
  };
  if (files.count("bias")) ft.bias = shaped("bias");
  if (files.count("alibi-slopes")) ft.alibi_slopes = shaped("alibi-slopes");
  if (files.count("rel-pos-table")) ft.rel_pos_table = shaped("rel-pos-table");
  if (files.count("sinks")) ft.sinks = shaped("sinks");
  if (files.count("doc-ids-q")) ft.doc_ids_q = shaped("doc-ids-q"), ft.doc_ids_kv = shaped("doc-ids-kv");
  ft.dropout = rng;
  if (files.count("q-norm-weight")) ft.q_norm_weight = shaped("q-norm-weight");
  if (files.count("k-norm-weight")) ft.k_norm_weight = shaped("k-norm-weight");
  if (files.count("q-positions")) ft.q_positions = shaped("q-positions");
  if (files.count("k-positions")) ft.k_positions = shaped("k-positions");

  Result<ForwardPlan> fwd = ForwardPlan::create(ctx, desc);
  if (!fwd) return die(fwd.status());
  if (Status s = fwd->validate(ft); !s) return die(s);
  std::optional<BackwardPlan> bwd;
  BackwardTensors bt;
  std::map<std::string, Tensor> grads;
  if (files.count("do")) {
    Result<BackwardPlan> b = BackwardPlan::create(ctx, desc, bwd_options);
    if (!b) return die(b.status());
    bwd.emplace(std::move(b).value());
    for (const auto& [name, like] : std::map<std::string, std::string>{{"dq", "q"}, {"dk", "k"}, {"dv", "v"}}) {
      Result<Tensor> g = make(desc.dtype, files.at(like).numel());
      if (!g) return die(g.status());
      grads.emplace(name, std::move(g).value());
    }
    bt.q = ft.q, bt.k = ft.k, bt.v = ft.v, bt.o = ft.o, bt.lse = *ft.lse;
    bt.d_o = view_in(dev.at("do"), desc.dtype, layout, d_o);
    bt.dq = view_in(grads.at("dq"), desc.dtype, layout, dq);
    bt.dk = view_in(grads.at("dk"), desc.dtype, layout, dk);
    bt.dv = view_in(grads.at("dv"), desc.dtype, layout, dv);
    bt.bias = ft.bias, bt.alibi_slopes = ft.alibi_slopes, bt.rel_pos_table = ft.rel_pos_table, bt.sinks = ft.sinks;
    bt.doc_ids_q = ft.doc_ids_q, bt.doc_ids_kv = ft.doc_ids_kv;
    bt.dropout = ft.dropout;
    bt.q_norm_weight = ft.q_norm_weight, bt.k_norm_weight = ft.k_norm_weight;
    bt.q_positions = ft.q_positions, bt.k_positions = ft.k_positions;
    auto param_grad = [&](const char* name, const char* input, std::optional<TensorView>& into) -> Status {
      if (!files.count(input)) return Status::ok();
      Result<Tensor> g = make(DType::kF32, files.at(input).numel());
      if (!g) return g.status();
      TensorView v = shaped(input);
      v.buffer = g->buffer(), v.buffer_size = g->view().buffer_size, v.dtype = DType::kF32;
      into = v;
      grads.emplace(name, std::move(g).value());
      return Status::ok();
    };
    for (Status s :
         {param_grad("dbias", "bias", bt.dbias), param_grad("drel_pos_table", "rel-pos-table", bt.drel_pos_table),
          param_grad("dsinks", "sinks", bt.dsinks), param_grad("dq_norm_weight", "q-norm-weight", bt.dq_norm_weight),
          param_grad("dk_norm_weight", "k-norm-weight", bt.dk_norm_weight)}) {
      if (!s) return die(s);
    }
    if (Status s = bwd->validate(bt); !s) return die(s);
  }

  // 3. Run (timed on the GPU).
  Result<bench::GpuTimer> timer = bench::GpuTimer::create(ctx);
  std::printf("device: %s\nforward: %s\n", ctx.info().name.c_str(), fwd->variant_name().c_str());
  if (timer) {
    Result<double> t = timer->time([&](VkCommandBuffer cmd) { return fwd->record(cmd, ft); });
    if (!t) return die(t.status());
    std::printf("forward GPU time: %.3f ms\n", *t * 1e3);
  } else if (Status s = fwd->run(ft); !s) {
    return die(s);
  }
  if (bwd) {
    std::printf("backward: %s\n", bwd->variant_name().c_str());
    if (timer) {
      Result<double> t = timer->time([&](VkCommandBuffer cmd) { return bwd->record(cmd, bt); });
      if (!t) return die(t.status());
      std::printf("backward GPU time: %.3f ms\n", *t * 1e3);
    } else if (Status s = bwd->run(bt); !s) {
      return die(s);
    }
  }
  // 4. Outputs: downloaded, checked against the --check references' names and shapes, then written.
  std::map<std::string, npy::Array> outputs;
  std::vector<std::string> order;  // the order they are written in
  auto download = [&](const std::string& name, const Tensor& t, DType dtype, std::vector<std::int64_t> shape) -> Status {
    npy::Array arr;
    arr.shape = std::move(shape);
    if (dtype == DType::kBF16) {  // widened exactly to f32 (.npy has no bf16)
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
    outputs[name] = std::move(arr);
    order.push_back(name);
    return Status::ok();
  };
  std::vector<std::int64_t> o_shape = qf.shape;
  o_shape.back() = dv.d;
  if (Status s = download("o", *o, desc.dtype, o_shape); !s) return die(s);
  if (Status s = download("lse", *lse, DType::kF32,
                          thd ? std::vector<std::int64_t>{dq.h, dq.s} : std::vector<std::int64_t>{dq.b, dq.h, dq.s});
      !s) {
    return die(s);
  }
  const std::map<std::string, std::string> like = {
      {"dq", "q"},        {"dk", "k"}, {"dv", "v"}, {"dbias", "bias"}, {"drel_pos_table", "rel-pos-table"},
      {"dsinks", "sinks"}, {"dq_norm_weight", "q-norm-weight"}, {"dk_norm_weight", "k-norm-weight"}};
  for (const auto& [name, t] : grads) {
    const bool param = name != "dq" && name != "dk" && name != "dv";
    if (Status s = download(name, t, param ? DType::kF32 : desc.dtype, files.at(like.at(name)).shape); !s) return die(s);
  }
  if (Status s = check_references(checks, outputs); !s) return die(s);
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  std::printf("writing into %s\n", std::filesystem::absolute(out_dir).lexically_normal().string().c_str());
  for (const std::string& name : order) {
    const std::string path = (out_dir / (name + ".npy")).string();
    if (Status s = npy::save(path, outputs.at(name)); !s) return die(s);
    std::printf("wrote %s %s\n", path.c_str(), shape_text(outputs.at(name).shape).c_str());
  }
  const int failed = check_outputs(checks, outputs, tol);
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
