#include "planning/feature_spec.hpp"

#include "kernels/attn_enums.hpp"
#include "planning/bwd_tiles.hpp"

namespace vkattn {

const char* to_string(Align a) { return a == Align::kTopLeft ? "tl" : "br"; }

FeatureSpecConstants feature_spec(const Problem& p) {
  const AttentionDesc& d = p.desc;
  FeatureSpecConstants s;
  s.head_dim = static_cast<std::uint32_t>(d.head_dim);
  s.head_dim_v = static_cast<std::uint32_t>(p.head_dim_v);
  s.dtype = static_cast<std::uint32_t>(d.dtype);
  s.causal = d.mask.causal ? 1u : 0u;
  s.window = d.mask.has_window() ? 1u : 0u;
  s.documents = d.mask.documents ? 1u : 0u;
  s.seq_mode = static_cast<std::uint32_t>(p.seq_mode);
  s.softcap = d.score_mod.softcap.has_value() ? 1u : 0u;
  s.alibi = static_cast<std::uint32_t>(d.score_mod.alibi);
  s.rel_pos = d.score_mod.rel_pos_max_distance.has_value() ? 1u : 0u;
  s.bias = d.score_mod.bias.has_value() ? shader::bias_value(*d.score_mod.bias) : shader::kBIAS_NONE;
  s.sinks = d.score_mod.sinks ? 1u : 0u;
  s.dropout = d.dropout.enabled() ? 1u : 0u;
  // The alignment is part of the variant only where something measures from the diagonal.
  const bool aligned = s.causal || s.window || s.alibi || s.rel_pos;
  s.align_br = aligned && d.mask.align == Align::kBottomRight ? 1u : 0u;
  return s;
}

std::string feature_name(const FeatureSpecConstants& s) {
  // Appended piece by piece (GCC 12 warns falsely on `"d" + std::to_string(...)`).
  std::string name = "d";
  name += std::to_string(s.head_dim);
  if (s.head_dim_v != s.head_dim) {
    name += "v";
    name += std::to_string(s.head_dim_v);
  }
  name += "_";
  name += to_string(static_cast<DType>(s.dtype));
  const char* align = s.align_br ? "_br" : "_tl";
  if (s.causal) name += "_causal";
  if (s.window) name += "_win";
  if (s.causal || s.window) name += align;
  if (s.documents) name += "_doc";
  if (!s.causal && !s.window && !s.documents) name += "_nomask";
  if (s.softcap) name += "_softcap";
  if (s.alibi) name += s.alibi == shader::kALIBI_PER_BATCH_HEAD ? "_alibibh" : "_alibi";
  if (s.rel_pos) name += "_relpos";
  if ((s.alibi || s.rel_pos) && !s.causal && !s.window) name += align;
  if (s.bias) name += s.bias == shader::kBIAS_F16 ? "_bias16" : "_bias32";
  if (s.sinks) name += "_sink";
  if (s.dropout) name += "_dropout";
  if (s.seq_mode == shader::kSEQ_PADDED) name += "_pad";
  if (s.seq_mode == shader::kSEQ_VARLEN) name += "_varlen";
  return name;
}

std::string feature_name(const AttentionDesc& desc) { return feature_name(feature_spec(unchecked_problem(desc))); }

namespace {
// "_f16ops" where the coopmat kernels run bf16 storage on fp16 operands (shaders/attn_cm_tiles.glsl).
std::string bf16_on_f16_operands(const FeatureSpecConstants& f, KernelPath kernels) {
  return kernels != KernelPath::kScalar && f.dtype == static_cast<std::uint32_t>(DType::kBF16) ? "_f16ops" : "";
}
}  // namespace

std::string fwd_variant_name(const FwdSpecConstants& s, KernelPath kernels) {
  const bool coopmat = kernels != KernelPath::kScalar;
  std::string name = "attn_fwd_" + feature_name(s.features);
  name += "_bq" + std::to_string(s.block_q) + "_bk" + std::to_string(s.block_k) + (s.q_shared ? "_qsh" : "");
  // The coopmat kernels' workgroup: subgroups of 32 (the scalar kernel's is BLOCK_Q, its key step
  // KEY_STEP).
  name += coopmat ? "_sg" + std::to_string(s.workgroup_size / 32) : "_ks" + std::to_string(s.key_step);
  if (coopmat && s.kv_ahead == 0) name += "_noprefetch";  // each K/V tile loaded at its turn
  if (coopmat && s.kv_ahead == 2) name += "_stagger";     // V while S computes, the next K while P V does
  if (s.pack_gqa != 0) name += "_packgqa";
  if (s.row_lanes > 1) name += "_lanes" + std::to_string(s.row_lanes);
  if (s.splits > 1) name += "_split" + std::to_string(s.splits);
  if (s.cm2_dim_pad != 16) name += "_dpad" + std::to_string(s.cm2_dim_pad);
  if (s.paged_shift != 0) name += "_paged" + std::to_string(1u << s.paged_shift) + (s.device_lens ? "_devtables" : "");
  name += s.write_lse ? "_lse" : "_nolse";
  name += bf16_on_f16_operands(s.features, kernels);
  name += std::string("_") + to_string(kernels);
  return name;
}

std::string bwd_variant_name(const BwdSpecConstants& s, KernelPath kernels) {
  std::string name = "attn_bwd_" + feature_name(s.features);
  name += "_br" + std::to_string(s.block_rows) + "_bc" + std::to_string(s.block_cols) + "_st" + std::to_string(s.step);
  if (s.dq_chunk16 != 0 || s.dkdv_chunk16 != 0) {  // the head dim in chunks: dQ's x dK and dV's
    name += "_dsplit" + std::to_string(cm_bwd_chunks(s, BwdKernel::kDq)) + "x" +
            std::to_string(cm_bwd_chunks(s, BwdKernel::kDkdv));
  }
  if (kernels != KernelPath::kScalar && s.tile_ahead == 0) name += "_noprefetch";  // each tile loaded at its turn
  if (s.cm2_dim_pad != 16) name += "_dpad" + std::to_string(s.cm2_dim_pad);
  name += bf16_on_f16_operands(s.features, kernels) + "_" + to_string(kernels);
  return name;
}

}  // namespace vkattn
