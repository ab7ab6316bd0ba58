#include "run/problem.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

namespace vkattn::run_tool {
namespace {

// Storage, heads, head dims, and the sequences: dense, varlen (thd, seq-lens) or a paged cache.
void shapes_and_sequences(const Inputs& in, AttentionDesc& desc) {
  desc.dtype = in.bf16 ? DType::kBF16 : in.at("q").dtype;
  desc.q_heads = in.q.h;
  desc.kv_heads = in.k.h;
  desc.head_dim = in.q.d;
  desc.head_dim_v = in.v.d;
  if (in.thd()) {
    desc.sequences.cu_seqlens_q = ints(in.at("cu-seqlens-q"));
    desc.sequences.cu_seqlens_k = ints(in.at("cu-seqlens-k"));
    desc.batch = static_cast<std::int64_t>(desc.sequences.cu_seqlens_q.size()) - 1;
  } else {
    desc.batch = in.q.b;
    desc.seq_q = in.q.s;
    desc.seq_k = in.k.s;
  }
  if (in.paged()) {  // the plan checks the table's block ids and negative lengths
    desc.paged_kv.block_size = in.k.s;
    desc.paged_kv.num_blocks = in.k.b;
    desc.paged_kv.max_blocks = in.at("block-table").shape[1];
    desc.paged_kv.block_table = ints(in.at("block-table"));
    desc.paged_kv.cache_lens = ints(in.at("cache-lens"));
    desc.seq_k = 1;  // the longest length
    for (std::int32_t len : desc.paged_kv.cache_lens) desc.seq_k = std::max<std::int64_t>(desc.seq_k, len);
  }
  if (in.has("seq-lens-q")) desc.sequences.seq_lens_q = ints(in.at("seq-lens-q"));
  if (in.has("seq-lens-kv")) desc.sequences.seq_lens_kv = ints(in.at("seq-lens-kv"));
}

// --causal, --align, --window-*, document ids.
Status mask(const Args& a, const Inputs& in, Mask& m) {
  m.causal = a.has("causal");
  if (a.has("align")) {
    if (a.get("align") != "br" && a.get("align") != "tl") return fail("--align=" + a.get("align") + " is not br or tl");
    m.align = a.get("align") == "tl" ? Align::kTopLeft : Align::kBottomRight;
  }
  for (const char* w : {"window-left", "window-right"}) {
    if (!a.has(w)) continue;
    Result<std::int64_t> v = integer(a, w);
    if (!v) return v.status();
    (std::string(w) == "window-left" ? m.window_left : m.window_right) = *v;
  }
  m.documents = in.has("doc-ids-q");
  return Status::ok();
}

// --softcap, --scale, and the score_mods given as files (ALiBi slopes, a relative-position table,
// a bias, sinks).
Status score_mods(const Args& a, const Inputs& in, AttentionDesc& desc) {
  if (a.has("softcap")) {
    Result<float> c = real(a, "softcap");
    if (!c) return c.status();
    desc.score_mod.softcap = *c;
  }
  if (a.has("scale")) {
    Result<float> c = real(a, "scale");
    if (!c) return c.status();
    desc.scale = *c;
  }
  if (in.has("alibi-slopes")) {
    desc.score_mod.alibi = in.at("alibi-slopes").shape.size() == 2 ? Alibi::kPerBatchHead : Alibi::kPerHead;
  }
  if (in.has("rel-pos-table")) {
    const auto& t = in.at("rel-pos-table").shape;
    if (t.size() != 2 || t[1] % 2 == 0) {
      return fail("--rel-pos-table: shape " + npy::shape_text(t) + " is not [Hq, 2M + 1] (" +
                  (t.size() != 2 ? "rank " + std::to_string(t.size()) + ", expected 2"
                                 : "its last dim " + std::to_string(t[1]) + " is even") +
                  ")");
    }
    desc.score_mod.rel_pos_max_distance = (t[1] - 1) / 2;
  }
  if (in.has("bias")) desc.score_mod.bias = in.at("bias").dtype;
  desc.score_mod.sinks = in.has("sinks");
  return Status::ok();
}

// --q-norm, --k-norm and --rope with their options (vkattn/qk_transform.hpp).
Status qk_transform(const Args& a, const Inputs& in, QKTransform& qk) {
  for (const char* key : {"norm-eps", "norm-scale"}) {
    if (a.has(key) && !a.has("q-norm") && !a.has("k-norm")) {
      return fail(std::string("--") + key + " needs --q-norm or --k-norm");
    }
  }
  for (const char* key : {"rope-theta", "rotary-dim", "rope-grid"}) {
    if (a.has(key) && !a.has("rope")) return fail(std::string("--") + key + " needs --rope");
  }
  for (const char* side : {"q-norm", "k-norm"}) {
    if (!a.has(side)) continue;
    QKNorm& n = std::string(side) == "q-norm" ? qk.q_norm : qk.k_norm;
    const std::string& kind = a.get(side);
    if (kind != "rms" && kind != "l2") return fail(std::string("--") + side + "=" + kind + " is not rms or l2");
    n.kind = kind == "rms" ? QKNormKind::kRMS : QKNormKind::kL2;
    for (const char* key : {"norm-eps", "norm-scale"}) {
      if (!a.has(key)) continue;
      Result<float> v = real(a, key);
      if (!v) return v.status();
      (std::string(key) == "norm-eps" ? n.eps : n.scale) = *v;
    }
  }
  if (!a.has("rope")) return Status::ok();
  const std::string& style = a.get("rope");
  if (style != "half" && style != "pairs") return fail("--rope=" + style + " is not half or pairs");
  qk.rope.style = style == "half" ? RopeStyle::kRotateHalf : RopeStyle::kInterleaved;
  if (a.has("rope-theta")) {  // a double in the API (1.00000001 stays above 1)
    Result<double> t = number(a, "rope-theta", std::numeric_limits<double>::max(), "double");
    if (!t) return t.status();
    qk.rope.theta = *t;
  }
  if (a.has("rotary-dim")) {
    Result<std::int64_t> r = integer(a, "rotary-dim");
    if (!r) return r.status();
    qk.rope.rotary_dim = *r;
  }
  if (a.has("rope-grid")) {
    const std::string& g = a.get("rope-grid");
    for (std::size_t at = 0; at <= g.size();) {
      const std::size_t x = std::min(g.find('x', at), g.size());
      try {
        qk.rope.grid.push_back(std::stoll(g.substr(at, x - at)));
      } catch (...) {
        return fail("--rope-grid=" + g + " is not AxB or AxBxC");
      }
      at = x + 1;
    }
  }
  qk.rope.positions = in.has("q-positions") || in.has("k-positions");
  return Status::ok();
}

// --dropout, --seed, --offset.
Status dropout(const Args& a, Dropout& d, DropoutRng& rng) {
  if (a.has("dropout")) {
    Result<float> p = real(a, "dropout");
    if (!p) return p.status();
    d.p = *p;  // checked by the plan (desc.dropout.p must be in [0, 1))
  }
  for (const char* key : {"seed", "offset"}) {
    if (!a.has(key)) continue;
    if (!a.has("dropout")) return fail(std::string("--") + key + " needs --dropout");
    Result<std::int64_t> v = integer(a, key);
    const std::int64_t top = std::string(key) == "seed" ? std::numeric_limits<std::int64_t>::max() : 0xFFFFFFFFll;
    if (!v || *v < 0 || *v > top) {
      return fail(std::string("--") + key + "=" + a.get(key) + " is not an integer in [0, " + std::to_string(top) +
                  "]");
    }
    if (std::string(key) == "seed") {
      rng.seed = static_cast<std::uint64_t>(*v);
    } else {
      rng.offset = static_cast<std::uint32_t>(*v);
    }
  }
  return Status::ok();
}

}  // namespace

Result<Problem> problem_of(const Args& a, const Inputs& in) {
  Problem p;
  AttentionDesc& desc = p.desc;
  shapes_and_sequences(in, desc);
  if (Status s = mask(a, in, desc.mask); !s) return s;
  if (Status s = qk_transform(a, in, desc.qk); !s) return s;
  if (Status s = dropout(a, desc.dropout, p.rng); !s) return s;
  if (Status s = score_mods(a, in, desc); !s) return s;
  if (a.has("path")) {
    const std::string& name = a.get("path");
    const std::optional<KernelPath> path = kernel_path_from_string(name);
    if (!path) return fail("--path=" + name + " is not " + kKernelPathNames);
    desc.path = *path;
  }
  if (a.has("deterministic")) {  // 0 or 1 (parse_args)
    p.bwd_options.determinism = a.get("deterministic") == "0" ? Determinism::kFast : Determinism::kDeterministic;
  }
  return p;
}

}  // namespace vkattn::run_tool
