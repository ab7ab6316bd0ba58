#include "attention_case.hpp"
#include "support/test_tensors.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace vkattn::test {
namespace {

std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kBHSD:
      return "bhsd";
    case Layout::kBSHD:
      return "bshd";
    case Layout::kSBHD:
      return "sbhd";
  }
  return "?";
}

// Memory index of logical [b, h, s, d] in a rank-4 `view`.
std::size_t mem_index(const TensorView& view, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  return at(b * view.strides[0] + h * view.strides[1] + s * view.strides[2] + d * view.strides[3]);
}

// Dense [B, H, S, D] <-> memory order of a rank-4 `view`.
std::vector<float> scatter(const std::vector<float>& dense, const TensorView& view) {
  std::vector<float> mem(dense.size());
  std::size_t n = 0;
  for (std::int64_t b = 0; b < view.shape[0]; ++b)
    for (std::int64_t h = 0; h < view.shape[1]; ++h)
      for (std::int64_t s = 0; s < view.shape[2]; ++s)
        for (std::int64_t d = 0; d < view.shape[3]; ++d) mem[mem_index(view, b, h, s, d)] = dense[n++];
  return mem;
}

std::vector<float> gather(const std::vector<float>& mem, const TensorView& view) {
  std::vector<float> dense;
  dense.reserve(mem.size());
  for (std::int64_t b = 0; b < view.shape[0]; ++b)
    for (std::int64_t h = 0; h < view.shape[1]; ++h)
      for (std::int64_t s = 0; s < view.shape[2]; ++s)
        for (std::int64_t d = 0; d < view.shape[3]; ++d) dense.push_back(mem[mem_index(view, b, h, s, d)]);
  return dense;
}

// Dense [B, H, S, D] rows i < len[b] -> packed [T, H, D] (token cu[b] + i).
std::vector<float> pack(const std::vector<float>& dense, std::int64_t B, std::int64_t H, std::int64_t S, std::int64_t D,
                        const std::vector<std::int32_t>& cu) {
  std::vector<float> packed(at(cu.back() * H * D));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < cu[at(b + 1)] - cu[at(b)]; ++i)
        for (std::int64_t d = 0; d < D; ++d)
          packed[at(((cu[at(b)] + i) * H + h) * D + d)] = dense[at(((b * H + h) * S + i) * D + d)];
  return packed;
}

TensorView view_4d(const Tensor& t, const CaseShape& c, std::int64_t h, std::int64_t s, std::int64_t d) {
  return TensorView::attention(t.buffer(), t.view().buffer_size, c.dtype, c.layout, c.batch, h, s, d);
}

// A view of `t` with `shape` (dense strides).
TensorView shaped(const Tensor& t, std::initializer_list<std::int64_t> shape) {
  return TensorView::contiguous(t.buffer(), t.view().buffer_size, t.dtype(), shape);
}

// Random lengths in [0, s]; for varlen, entry 0 is s so the longest sequence is the padded size.
std::vector<std::int64_t> random_lengths(std::int64_t batch, std::int64_t s, bool first_full, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> len(0, s);
  std::vector<std::int64_t> out(at(batch));
  for (auto& l : out) l = len(rng);
  if (first_full) out[0] = s;
  return out;
}

// Document ids of `batch` rows of `s` tokens: runs of increasing ids (as packing makes them), or
// random small ids per token.
std::vector<std::int32_t> random_docs(std::int64_t batch, std::int64_t s, bool sorted, std::mt19937_64& rng) {
  std::vector<std::int32_t> ids(at(batch * s));
  std::uniform_int_distribution<std::int32_t> small(0, 2);
  std::uniform_int_distribution<std::int64_t> run(1, std::max<std::int64_t>(1, s / 3));
  for (std::int64_t b = 0; b < batch; ++b) {
    std::int32_t id = 0;
    std::int64_t left = run(rng);
    for (std::int64_t i = 0; i < s; ++i) {
      if (!sorted) {
        ids[at(b * s + i)] = small(rng);
        continue;
      }
      if (left-- == 0) {
        id += small(rng) == 0 ? 2 : 1;  // sometimes skip an id: a document with no keys
        left = run(rng) - 1;
      }
      ids[at(b * s + i)] = id;
    }
  }
  return ids;
}

std::vector<float> packed_docs(const std::vector<std::int32_t>& dense, std::int64_t batch, std::int64_t s,
                               const std::vector<std::int32_t>& cu) {
  std::vector<float> out;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t i = 0; i < cu[at(b + 1)] - cu[at(b)]; ++i)
      out.push_back(static_cast<float>(dense[at(b * s + i)]));
  return out;
}

}  // namespace

std::uint64_t test_seed() {
  if (const char* env = std::getenv("VKATTN_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

std::string CaseShape::name() const {
  AttentionDesc d;
  d.dtype = dtype;
  d.head_dim = head_dim;
  d.head_dim_v = head_dim_v;
  d.mask = mask;
  d.score_mod = mod;
  d.dropout.p = dropout;
  d.write_lse = with_lse;
  if (seqs == SeqKind::kPadded) d.sequences.seq_lens_q = {0};
  if (seqs == SeqKind::kVarlen) d.sequences.cu_seqlens_q = {0};
  std::ostringstream s;
  s << "b" << batch << "_h" << q_heads << "x" << kv_heads << "_sq" << seq_q << "_sk" << seq_k << "_" << feature_name(d)
    << "_" << (seqs == SeqKind::kVarlen ? "thd" : layout_name(layout)) << (with_lse ? "" : "_nolse");
  if (mask.has_window()) {
    s << "_wl" << (mask.window_left ? std::to_string(*mask.window_left) : "inf") << "r"
      << (mask.window_right ? std::to_string(*mask.window_right) : "inf");
  }
  if (mod.rel_pos_max_distance) s << "_m" << *mod.rel_pos_max_distance;
  if (mask.q_offset != 0 || mask.k_offset != 0) s << "_at" << mask.q_offset << "x" << mask.k_offset;
  if (head_dim_v != 0 && head_dim_v == head_dim) s << "_dveq";
  if (mod.bias && !(bias_full[0] && bias_full[1] && bias_full[2])) {
    s << "_bcast" << (bias_full[0] ? "B" : "1") << (bias_full[1] ? "H" : "1") << (bias_full[2] ? "S" : "1");
  }
  if (mask.documents && !sorted_docs) s << "_unsorteddocs";
  if (seqs == SeqKind::kPadded && !(pad_q && pad_kv)) s << (pad_q ? "_onlyq" : "_onlykv");
  if (dropout != 0.0f) s << "_p" << static_cast<int>(dropout * 100.0f + 0.5f);
  return s.str();
}

void round_to_dtype(std::vector<float>& values, DType dtype) {
  if (dtype == DType::kF16) {
    for (float& x : values) x = half_to_float(float_to_half(x));
  } else if (dtype == DType::kBF16) {
    for (float& x : values) x = bf16_to_float(float_to_bf16(x));
  }
}

Result<AttentionCase> AttentionCase::create(Context& ctx, const CaseShape& c, std::mt19937_64& rng) {
  AttentionCase a;
  a.shape = c;
  const std::int64_t B = c.batch, Hq = c.q_heads, Hkv = c.kv_heads, Sq = c.seq_q, Sk = c.seq_k, Dk = c.head_dim;
  const std::int64_t Dv = c.head_dim_v == 0 ? Dk : c.head_dim_v;
  auto random = [&](std::int64_t n, float lo, float hi, DType dtype) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> x(at(n));
    for (float& e : x) e = dist(rng);
    round_to_dtype(x, dtype);
    return x;
  };
  a.q = random(B * Hq * Sq * Dk, -1.0f, 1.0f, c.dtype);
  a.k = random(B * Hkv * Sk * Dk, -1.0f, 1.0f, c.dtype);
  a.v = random(B * Hkv * Sk * Dv, -1.0f, 1.0f, c.dtype);

  RefProblem& p = a.ref;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = Dk, p.head_dim_v = Dv;
  p.mask = c.mask;
  p.mod = c.mod;
  if (c.dropout != 0.0f) {
    p.dropout_p = static_cast<double>(c.dropout);
    p.dropout_seed = rng();
    p.dropout_offset = static_cast<std::uint32_t>(rng());
  }
  if (c.seqs != SeqKind::kDense) {
    const bool varlen = c.seqs == SeqKind::kVarlen;
    if (varlen || c.pad_q) p.len_q = random_lengths(B, Sq, varlen, rng);
    if (varlen || c.pad_kv) p.len_k = random_lengths(B, Sk, varlen, rng);
  }
  if (c.seqs == SeqKind::kVarlen) {
    a.cu_q.assign(1, 0);
    a.cu_k.assign(1, 0);
    for (std::int64_t b = 0; b < B; ++b) {
      a.cu_q.push_back(a.cu_q.back() + static_cast<std::int32_t>(p.len_q[at(b)]));
      a.cu_k.push_back(a.cu_k.back() + static_cast<std::int32_t>(p.len_k[at(b)]));
    }
  }

  // Q, K, V, O, LSE.
  const Status unset(ErrorCode::kInvalidArgument, "unset");
  Result<Tensor> q = unset, k = unset, v = unset, o = unset, lse = unset;
  const float nan = std::nanf("");
  if (c.seqs == SeqKind::kVarlen) {
    q = upload_values(ctx, c.dtype, pack(a.q, B, Hq, Sq, Dk, a.cu_q));
    k = upload_values(ctx, c.dtype, pack(a.k, B, Hkv, Sk, Dk, a.cu_k));
    v = upload_values(ctx, c.dtype, pack(a.v, B, Hkv, Sk, Dv, a.cu_k));
    o = upload_values(ctx, c.dtype, std::vector<float>(at(std::max<std::int64_t>(a.cu_q.back(), 1) * Hq * Dv), nan));
    lse = upload_values(ctx, DType::kF32, std::vector<float>(at(Hq * std::max<std::int64_t>(a.cu_q.back(), 1)), nan));
  } else {
    auto make = [&](const std::vector<float>& dense, std::int64_t h, std::int64_t s, std::int64_t d) -> Result<Tensor> {
      Result<Tensor> t =
          Tensor::create_bytes(ctx, static_cast<VkDeviceSize>(B * h * s * d) * dtype_size(c.dtype), c.dtype);
      if (!t) return t;
      Status st = t->upload(scatter(dense, view_4d(*t, c, h, s, d)));
      if (!st) return st;
      return t;
    };
    q = make(a.q, Hq, Sq, Dk);
    k = make(a.k, Hkv, Sk, Dk);
    v = make(a.v, Hkv, Sk, Dv);
    o = upload_values(ctx, c.dtype, std::vector<float>(at(B * Hq * Sq * Dv), nan));
    lse = upload_values(ctx, DType::kF32, std::vector<float>(at(B * Hq * Sq), nan));
  }
  for (auto* r : {&q, &k, &v, &o, &lse}) {
    if (!*r) return r->status();
  }
  a.q_dev = std::move(q).value();
  a.k_dev = std::move(k).value();
  a.v_dev = std::move(v).value();
  a.o_dev = std::move(o).value();
  if (c.with_lse) a.lse_dev = std::move(lse).value();

  // Mask and score_mod inputs.
  auto keep = [](Result<Tensor> r, std::optional<Tensor>& into) -> Status {
    if (!r) return r.status();
    into = std::move(r).value();
    return Status::ok();
  };
  if (c.mod.alibi != Alibi::kNone) {
    const std::vector<float> slopes =
        random(c.mod.alibi == Alibi::kPerBatchHead ? B * Hq : Hq, 0.05f, 1.0f, DType::kF32);
    p.slopes.assign(slopes.begin(), slopes.end());
    if (Status s = keep(upload_values(ctx, DType::kF32, slopes), a.slopes_dev); !s) return s;
  }
  if (c.mod.rel_pos_max_distance) {
    const std::vector<float> table = random(Hq * (2 * *c.mod.rel_pos_max_distance + 1), -1.0f, 1.0f, DType::kF32);
    p.table.assign(table.begin(), table.end());
    if (Status s = keep(upload_values(ctx, DType::kF32, table), a.table_dev); !s) return s;
  }
  if (c.mod.sinks) {
    const std::vector<float> sinks = random(Hq, -1.0f, 2.0f, DType::kF32);
    p.sinks.assign(sinks.begin(), sinks.end());
    if (Status s = keep(upload_values(ctx, DType::kF32, sinks), a.sinks_dev); !s) return s;
  }
  if (c.mod.bias) {
    const std::int64_t bb = c.bias_full[0] ? B : 1, bh = c.bias_full[1] ? Hq : 1, bs = c.bias_full[2] ? Sq : 1;
    const std::vector<float> stored = random(bb * bh * bs * Sk, -1.0f, 1.0f, *c.mod.bias);
    if (Status s = keep(upload_values(ctx, *c.mod.bias, stored), a.bias_dev); !s) return s;
    p.bias.resize(at(B * Hq * Sq * Sk));
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < Hq; ++h)
        for (std::int64_t i = 0; i < Sq; ++i)
          for (std::int64_t j = 0; j < Sk; ++j)
            p.bias[at(((b * Hq + h) * Sq + i) * Sk + j)] =
                stored[at((((bb > 1 ? b : 0) * bh + (bh > 1 ? h : 0)) * bs + (bs > 1 ? i : 0)) * Sk + j)];
  }
  if (c.mask.documents) {
    p.doc_q = random_docs(B, Sq, c.sorted_docs, rng);
    p.doc_k = random_docs(B, Sk, c.sorted_docs, rng);
    std::vector<float> dq, dk;
    if (c.seqs == SeqKind::kVarlen) {
      dq = packed_docs(p.doc_q, B, Sq, a.cu_q);
      dk = packed_docs(p.doc_k, B, Sk, a.cu_k);
      if (dq.empty()) dq.push_back(0.0f);
      if (dk.empty()) dk.push_back(0.0f);
    } else {
      dq.assign(p.doc_q.begin(), p.doc_q.end());
      dk.assign(p.doc_k.begin(), p.doc_k.end());
    }
    if (Status s = keep(upload_values(ctx, DType::kI32, dq), a.docs_q_dev); !s) return s;
    if (Status s = keep(upload_values(ctx, DType::kI32, dk), a.docs_k_dev); !s) return s;
  }
  return a;
}

ForwardTensors AttentionCase::tensors() const {
  const CaseShape& c = shape;
  const std::int64_t B = c.batch, Hq = c.q_heads, Hkv = c.kv_heads, Sq = c.seq_q, Sk = c.seq_k, Dk = c.head_dim;
  const std::int64_t Dv = ref.dv();
  ForwardTensors t;
  if (c.seqs == SeqKind::kVarlen) {
    const std::int64_t Tq = cu_q.back(), Tk = cu_k.back();
    t.q = shaped(*q_dev, {Tq, Hq, Dk});
    t.k = shaped(*k_dev, {Tk, Hkv, Dk});
    t.v = shaped(*v_dev, {Tk, Hkv, Dv});
    t.o = shaped(*o_dev, {Tq, Hq, Dv});
    if (lse_dev) t.lse = shaped(*lse_dev, {Hq, Tq});
    if (docs_q_dev) t.doc_ids_q = shaped(*docs_q_dev, {Tq});
    if (docs_k_dev) t.doc_ids_kv = shaped(*docs_k_dev, {Tk});
  } else {
    t.q = view_4d(*q_dev, c, Hq, Sq, Dk);
    t.k = view_4d(*k_dev, c, Hkv, Sk, Dk);
    t.v = view_4d(*v_dev, c, Hkv, Sk, Dv);
    t.o = view_4d(*o_dev, c, Hq, Sq, Dv);
    if (lse_dev) t.lse = shaped(*lse_dev, {B, Hq, Sq});
    if (docs_q_dev) t.doc_ids_q = shaped(*docs_q_dev, {B, Sq});
    if (docs_k_dev) t.doc_ids_kv = shaped(*docs_k_dev, {B, Sk});
  }
  if (bias_dev) {
    t.bias = shaped(*bias_dev, {c.bias_full[0] ? B : 1, c.bias_full[1] ? Hq : 1, c.bias_full[2] ? Sq : 1, Sk});
  }
  if (slopes_dev)
    t.alibi_slopes = c.mod.alibi == Alibi::kPerBatchHead ? shaped(*slopes_dev, {B, Hq}) : shaped(*slopes_dev, {Hq});
  if (table_dev) t.rel_pos_table = shaped(*table_dev, {Hq, 2 * *c.mod.rel_pos_max_distance + 1});
  if (sinks_dev) t.sinks = shaped(*sinks_dev, {Hq});
  t.dropout = {ref.dropout_seed, ref.dropout_offset};
  return t;
}

AttentionDesc AttentionCase::desc() const {
  const CaseShape& c = shape;
  AttentionDesc d;
  d.dtype = c.dtype;
  d.batch = c.batch;
  d.q_heads = c.q_heads;
  d.kv_heads = c.kv_heads;
  d.seq_q = c.seqs == SeqKind::kVarlen ? 0 : c.seq_q;
  d.seq_k = c.seqs == SeqKind::kVarlen ? 0 : c.seq_k;
  d.head_dim = c.head_dim;
  d.head_dim_v = c.head_dim_v;
  d.mask = c.mask;
  d.score_mod = c.mod;
  d.dropout.p = c.dropout;
  d.write_lse = c.with_lse;
  if (c.seqs == SeqKind::kPadded) {
    for (std::int64_t l : ref.len_q) d.sequences.seq_lens_q.push_back(static_cast<std::int32_t>(l));
    for (std::int64_t l : ref.len_k) d.sequences.seq_lens_kv.push_back(static_cast<std::int32_t>(l));
  }
  if (c.seqs == SeqKind::kVarlen) {
    d.sequences.cu_seqlens_q = cu_q;
    d.sequences.cu_seqlens_k = cu_k;
  }
  return d;
}

namespace {
struct RoleDims {
  std::int64_t h, s, d;
  const std::vector<std::int32_t>* cu;
};
RoleDims dims_of(const AttentionCase& a, Role role) {
  const CaseShape& c = a.shape;
  switch (role) {
    case Role::kQ:
      return {c.q_heads, c.seq_q, c.head_dim, &a.cu_q};
    case Role::kK:
      return {c.kv_heads, c.seq_k, c.head_dim, &a.cu_k};
    case Role::kV:
      return {c.kv_heads, c.seq_k, a.ref.dv(), &a.cu_k};
    case Role::kO:
      return {c.q_heads, c.seq_q, a.ref.dv(), &a.cu_q};
  }
  return {};
}
}  // namespace

TensorView AttentionCase::view_of(const Tensor& t, Role role) const {
  const RoleDims r = dims_of(*this, role);
  if (shape.seqs == SeqKind::kVarlen) return shaped(t, {r.cu->back(), r.h, r.d});
  return view_4d(t, shape, r.h, r.s, r.d);
}

Result<Tensor> AttentionCase::device_tensor(Context& ctx, const std::vector<float>& values, Role role) const {
  const RoleDims r = dims_of(*this, role);
  if (shape.seqs == SeqKind::kVarlen)
    return upload_values(ctx, shape.dtype, pack(values, shape.batch, r.h, r.s, r.d, *r.cu));
  Result<Tensor> t = Tensor::create_bytes(ctx, values.size() * dtype_size(shape.dtype), shape.dtype);
  if (!t) return t;
  Status st = t->upload(scatter(values, view_4d(*t, shape, r.h, r.s, r.d)));
  if (!st) return st;
  return t;
}

std::vector<float> AttentionCase::to_dense(const std::vector<float>& mem, Role role) const {
  const RoleDims r = dims_of(*this, role);
  const CaseShape& c = shape;
  if (c.seqs != SeqKind::kVarlen) {
    return gather(mem, view_4d(*q_dev, c, r.h, r.s, r.d));  // strides depend on the layout only
  }
  const std::vector<std::int32_t>& cu = *r.cu;
  std::vector<float> dense(at(c.batch * r.h * r.s * r.d), 0.0f);
  for (std::int64_t b = 0; b < c.batch; ++b)
    for (std::int64_t h = 0; h < r.h; ++h)
      for (std::int64_t i = 0; i < cu[at(b + 1)] - cu[at(b)]; ++i)
        for (std::int64_t d = 0; d < r.d; ++d)
          dense[at(((b * r.h + h) * r.s + i) * r.d + d)] = mem[at(((cu[at(b)] + i) * r.h + h) * r.d + d)];
  return dense;
}

std::vector<float> AttentionCase::download_o() const {
  Result<std::vector<float>> mem = o_dev->download();
  EXPECT_TRUE(mem.is_ok()) << mem.status().to_string();
  if (!mem) return {};
  const CaseShape& c = shape;
  if (c.seqs != SeqKind::kVarlen) return gather(mem.value(), tensors().o);
  const std::int64_t Hq = c.q_heads, Sq = c.seq_q, Dv = ref.dv();
  std::vector<float> dense(at(c.batch * Hq * Sq * Dv), 0.0f);
  for (std::int64_t b = 0; b < c.batch; ++b)
    for (std::int64_t h = 0; h < Hq; ++h)
      for (std::int64_t i = 0; i < ref.lq(b); ++i)
        for (std::int64_t d = 0; d < Dv; ++d)
          dense[at(((b * Hq + h) * Sq + i) * Dv + d)] = (*mem)[at(((cu_q[at(b)] + i) * Hq + h) * Dv + d)];
  return dense;
}

std::vector<float> AttentionCase::download_lse() const {
  Result<std::vector<float>> mem = lse_dev->download();
  EXPECT_TRUE(mem.is_ok()) << mem.status().to_string();
  if (!mem) return {};
  const CaseShape& c = shape;
  if (c.seqs != SeqKind::kVarlen) return mem.value();
  const std::int64_t Hq = c.q_heads, Sq = c.seq_q, Tq = cu_q.back();
  std::vector<float> dense(at(c.batch * Hq * Sq), -INFINITY);
  for (std::int64_t b = 0; b < c.batch; ++b)
    for (std::int64_t h = 0; h < Hq; ++h)
      for (std::int64_t i = 0; i < ref.lq(b); ++i)
        dense[at((b * Hq + h) * Sq + i)] = (*mem)[at(h * Tq + cu_q[at(b)] + i)];
  return dense;
}

void run_and_compare(Context& ctx, const AttentionCase& c) {
  Result<ForwardPlan> plan = ForwardPlan::create(ctx, c.desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  Status s = plan->run(c.tensors());
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  const RefResult ref = reference_forward(c.ref_problem(), c.q, c.k, c.v);
  expect_close(c.download_o(), ref.o, output_tolerance(c.shape.dtype), "O");
  if (c.shape.with_lse) expect_close(c.download_lse(), ref.lse, lse_tolerance(c.shape.dtype), "LSE");
}

void check_case(Context& ctx, const CaseShape& shape) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed) + " case " + shape.name());
  std::mt19937_64 rng(seed);
  Result<AttentionCase> c = AttentionCase::create(ctx, shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  run_and_compare(ctx, *c);
}

std::vector<const Tensor*> AttentionCase::device_tensors() const {
  std::vector<const Tensor*> out;
  for (const std::optional<Tensor>* t : {&q_dev, &k_dev, &v_dev, &o_dev, &lse_dev, &bias_dev, &slopes_dev, &table_dev,
                                         &sinks_dev, &docs_q_dev, &docs_k_dev}) {
    if (t->has_value()) out.push_back(&t->value());
  }
  return out;
}

std::vector<std::vector<std::byte>> download_all(const std::vector<const Tensor*>& tensors) {
  std::vector<std::vector<std::byte>> out;
  for (const Tensor* t : tensors) {
    Result<std::vector<std::byte>> bytes = t->download_bytes();
    EXPECT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    out.push_back(bytes.is_ok() ? std::move(bytes).value() : std::vector<std::byte>{});
  }
  return out;
}

void expect_error_and_untouched(const AttentionCase& c, const std::function<Status()>& call, ErrorCode code,
                                const std::string& text) {
  const std::vector<const Tensor*> tensors = c.device_tensors();
  const auto before = download_all(tensors);
  const Status s = call();
  ASSERT_FALSE(s.is_ok()) << "expected an error containing \"" << text << "\"";
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find(text), std::string::npos) << "message: " << s.message() << "\nexpected: " << text;
  const auto after = download_all(tensors);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_TRUE(after[i] == before[i]) << "device tensor " << i << " of the case (q, k, v, o, lse, then the mask and "
                                       << "score_mod inputs it has) was written";
  }
}

std::size_t expect_close(const std::vector<float>& gpu, const std::vector<double>& ref, Tolerance tol,
                         const std::string& what) {
  return expect_close(gpu, ref, {}, tol, what);
}

std::size_t expect_close(const std::vector<float>& gpu, const std::vector<double>& ref,
                         const std::vector<double>& terms, Tolerance tol, const std::string& what) {
  if (gpu.size() != ref.size() || (!terms.empty() && terms.size() != ref.size())) {
    ADD_FAILURE() << what << ": " << gpu.size() << " values, reference has " << ref.size() << " (term sums "
                  << terms.size() << ")";
    return ref.size();
  }
  double max_ref = 0.0;
  for (double r : ref) {
    if (std::isfinite(r)) max_ref = std::max(max_ref, std::fabs(r));
  }
  const double abs = tol.abs + tol.of_max * max_ref;
  std::size_t bad = 0;
  double worst = 0.0;
  double worst_share = 0.0;  // the largest err / allowed
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    const double g = gpu[i];
    const double r = ref[i];
    bool ok;
    if (std::isinf(r)) {
      ok = g == r;
    } else {
      const double err = std::fabs(g - r);
      const double allowed = abs + tol.rel * std::fabs(r) + (terms.empty() ? 0.0 : tol.of_terms * terms[i]);
      ok = std::isfinite(g) && err <= allowed;
      if (std::isfinite(g)) {
        worst = std::max(worst, err);
        worst_share = std::max(worst_share, allowed > 0.0 ? err / allowed : (err > 0.0 ? INFINITY : 0.0));
      }
    }
    if (!ok && ++bad <= 5) ADD_FAILURE() << what << "[" << i << "] = " << g << ", reference " << r;
  }
  if (bad > 0) {
    std::ostringstream allowed;
    allowed << "abs " << abs << " = " << tol.abs << " + " << tol.of_max << " * max|ref| " << max_ref << ", rel "
            << tol.rel;
    if (!terms.empty()) allowed << ", plus " << tol.of_terms << " * each element's term sum";
    ADD_FAILURE() << what << ": " << bad << " of " << gpu.size() << " elements out of tolerance (" << allowed.str()
                  << "), worst finite error " << worst;
  }
  if (const char* m = std::getenv("VKATTN_TEST_MARGINS"); m != nullptr && *m == '1') {
    std::fprintf(stderr, "margin %-16s worst error %.3g = %.3f of allowed (max|ref| %.3g)\n", what.c_str(), worst,
                 worst_share, max_ref);
  }
  return bad;
}

}  // namespace vkattn::test
