#include "planning/attn_views.hpp"

#include <string>

#include "base/vk_util.hpp"

namespace vkattn {

ViewRequirement ViewChecker::requirement(Role role, const char* name, bool written) {
  const AttentionDesc& d = p_.desc;
  const std::int64_t B = d.batch, Hq = d.q_heads, Hkv = p_.kv_heads, Sq = p_.seq_q, Sk = p_.seq_k;
  const std::int64_t Dk = d.head_dim, Dv = p_.head_dim_v, Tq = p_.total_q, Tk = p_.total_k;
  const bool vl = p_.seq_mode == SeqMode::kVarlen;
  const bool paged = d.paged_kv.enabled();
  const std::int64_t blocks = d.paged_kv.num_blocks, block = d.paged_kv.block_size;
  using Shape = std::vector<std::int64_t>;
  using Names = std::vector<const char*>;
  Shape shape;
  Names names;
  switch (role) {
    case Role::kQ:
      shape = vl ? Shape{Tq, Hq, Dk} : Shape{B, Hq, Sq, Dk};
      names = vl ? Names{"Tq = cu_seqlens_q[B]", "Hq", "Dk"} : Names{"B", "Hq", "Sq", "Dk"};
      break;
    case Role::kK:
      shape = vl ? Shape{Tk, Hkv, Dk} : paged ? Shape{blocks, Hkv, block, Dk} : Shape{B, Hkv, Sk, Dk};
      names = vl      ? Names{"Tk = cu_seqlens_k[B]", "Hkv", "Dk"}
              : paged ? Names{"paged_kv.num_blocks", "Hkv", "paged_kv.block_size", "Dk"}
                      : Names{"B", "Hkv", "Sk", "Dk"};
      break;
    case Role::kV:
      shape = vl ? Shape{Tk, Hkv, Dv} : paged ? Shape{blocks, Hkv, block, Dv} : Shape{B, Hkv, Sk, Dv};
      names = vl      ? Names{"Tk = cu_seqlens_k[B]", "Hkv", "Dv"}
              : paged ? Names{"paged_kv.num_blocks", "Hkv", "paged_kv.block_size", "Dv"}
                      : Names{"B", "Hkv", "Sk", "Dv"};
      break;
    case Role::kO:
      shape = vl ? Shape{Tq, Hq, Dv} : Shape{B, Hq, Sq, Dv};
      names = vl ? Names{"Tq = cu_seqlens_q[B]", "Hq", "Dv"} : Names{"B", "Hq", "Sq", "Dv"};
      break;
    case Role::kLse:
      shape = vl ? Shape{Hq, Tq} : Shape{B, Hq, Sq};
      names = vl ? Names{"Hq", "Tq"} : Names{"B", "Hq", "Sq"};
      break;
  }
  // The requirement's spans point into storage owned here (moving the outer vectors keeps them).
  shapes_.push_back(std::move(shape));
  names_.push_back(std::move(names));
  const bool lse = role == Role::kLse;
  return {name, shapes_.back(), names_.back(), lse ? DType::kF32 : d.dtype, !lse, written};
}

Result<BoundView> ViewChecker::input(Role role, const char* name, const TensorView& view) {
  Result<BoundView> b = check_view(device_, view, requirement(role, name, false));
  if (b) inputs_.push_back({name, &view, *b});
  return b;
}

Result<BoundView> ViewChecker::output(Role role, const char* name, const TensorView& view) {
  return output(name, view, requirement(role, name, true));
}

Result<BoundView> ViewChecker::output(const char* name, const TensorView& view, const ViewRequirement& req) {
  Result<BoundView> b = check_view(device_, view, req);
  if (!b) return b;
  for (const Checked& in : inputs_) VKATTN_TRY(check_no_overlap(*b, name, view, in.bound, in.name, *in.view));
  return b;
}

Status ViewChecker::optional(const std::optional<TensorView>& t, bool enabled, const ViewRequirement& req,
                             const char* feature, std::optional<BoundView>& out) {
  if (!enabled) {
    if (t.has_value()) return invalid(std::string(req.name) + " is given but " + feature + " is not set");
    return Status::ok();
  }
  if (!t.has_value()) return invalid(std::string(req.name) + " is missing (" + feature + " is set)");
  Result<BoundView> v = check_view(device_, *t, req);
  if (!v) return v.status();
  inputs_.push_back({req.name, &*t, *v});
  out = *v;
  return Status::ok();
}

Result<BoundAux> ViewChecker::aux(const AuxViews& t) {
  const AttentionDesc& d = p_.desc;
  const std::int64_t B = d.batch, Hq = d.q_heads, Sq = p_.seq_q, Sk = p_.seq_k, Tq = p_.total_q, Tk = p_.total_k;
  const bool vl = p_.seq_mode == SeqMode::kVarlen;
  const ScoreMod& mod = d.score_mod;
  using Shape = std::vector<std::int64_t>;
  using Names = std::vector<const char*>;
  BoundAux a;
  const Shape bias_shape{B, Hq, Sq, Sk};
  const Names bias_names{"B", "Hq", "Sq", "Sk"};
  VKATTN_TRY(optional(t.bias, mod.bias.has_value(),
                      {"bias", bias_shape, bias_names, mod.bias.value_or(DType::kF32), true, false, true},
                      "desc.score_mod.bias", a.bias));
  const bool per_batch = mod.alibi == Alibi::kPerBatchHead;
  const Shape slopes_shape = per_batch ? Shape{B, Hq} : Shape{Hq};
  const Names slopes_names = per_batch ? Names{"B", "Hq"} : Names{"Hq"};
  VKATTN_TRY(optional(t.alibi_slopes, mod.alibi != Alibi::kNone,
                      {"alibi_slopes", slopes_shape, slopes_names, DType::kF32, true, false, false, true},
                      "desc.score_mod.alibi", a.slopes));
  const Shape table_shape{Hq, 2 * mod.rel_pos_max_distance.value_or(0) + 1};
  const Names table_names{"Hq", "2M + 1"};
  VKATTN_TRY(optional(t.rel_pos_table, mod.rel_pos_max_distance.has_value(),
                      {"rel_pos_table", table_shape, table_names, DType::kF32, true, false, false, true},
                      "desc.score_mod.rel_pos_max_distance", a.table));
  const Shape sinks_shape{Hq};
  const Names sinks_names{"Hq"};
  VKATTN_TRY(optional(t.sinks, mod.sinks, {"sinks", sinks_shape, sinks_names, DType::kF32, true, false, false, true},
                      "desc.score_mod.sinks", a.sinks));
  const Shape docs_q_shape = vl ? Shape{Tq} : Shape{B, Sq};
  const Shape docs_k_shape = vl ? Shape{Tk} : Shape{B, Sk};
  const Names docs_q_names = vl ? Names{"Tq"} : Names{"B", "Sq"};
  const Names docs_k_names = vl ? Names{"Tk"} : Names{"B", "Sk"};
  VKATTN_TRY(optional(t.doc_ids_q, d.mask.documents,
                      {"doc_ids_q", docs_q_shape, docs_q_names, DType::kI32, true, false, false, true},
                      "desc.mask.documents", a.docs_q));
  VKATTN_TRY(optional(t.doc_ids_kv, d.mask.documents,
                      {"doc_ids_kv", docs_k_shape, docs_k_names, DType::kI32, true, false, false, true},
                      "desc.mask.documents", a.docs_k));
  return a;
}

Result<BoundTables> ViewChecker::tables(const std::optional<TensorView>& block_table,
                                        const std::optional<TensorView>& cache_lens) {
  const AttentionDesc& d = p_.desc;
  const bool device_tables = d.paged_kv.enabled() && !d.paged_kv.host_tables();
  const char* feature = "desc.paged_kv with no host tables";
  const std::vector<std::int64_t> table_shape{d.batch, d.paged_kv.max_blocks};
  const std::vector<const char*> table_names{"B", "paged_kv.max_blocks"};
  const std::vector<std::int64_t> lens_shape{d.batch};
  const std::vector<const char*> lens_names{"B"};
  BoundTables t;
  VKATTN_TRY(optional(block_table, device_tables, {"block_table", table_shape, table_names, DType::kI32, true},
                      feature, t.block_table));
  VKATTN_TRY(optional(cache_lens, device_tables,
                      {"cache_lens", lens_shape, lens_names, DType::kI32, true, false, false, true}, feature,
                      t.cache_lens));
  return t;
}

Addressing ViewChecker::addressing(const BoundView& v, Role role) const {
  if (p_.seq_mode != SeqMode::kVarlen) return {v.element_offset, v.strides[0], v.strides[1], v.strides[2]};
  if (role == Role::kLse) return {v.element_offset, 0, v.strides[0], v.strides[1]};  // [H, T]
  return {v.element_offset, 0, v.strides[1], v.strides[0]};                          // [T, H, D]
}

}  // namespace vkattn
