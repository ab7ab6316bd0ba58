#include "fwd_variant.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "attn_enums.hpp"
#include "vk_util.hpp"

namespace vkattn {

const char* to_string(Align a) { return a == Align::kTopLeft ? "tl" : "br"; }

const char* to_string(KernelPath p) {
  switch (p) {
    case KernelPath::kAuto:
      return "auto";
    case KernelPath::kScalar:
      return "scalar";
    case KernelPath::kCoopmat:
      return "coopmat";
  }
  return "unknown";
}

namespace {
constexpr std::uint32_t kBlockQ = 64;
constexpr std::uint32_t kCmBlockQ = 64;    // coopmat fallback: one 16-row fragment per subgroup
constexpr std::uint32_t kCmSubgroups = 4;  // coopmat fallback: four 32-lane subgroups
constexpr std::uint32_t kMaxBlockK = 64;
constexpr std::uint32_t kKeyStep = 2;
constexpr std::int64_t kMaxHeadDim = 256;
constexpr std::int64_t kMaxSeq = std::int64_t{1} << 28;  // keeps i + shift +- window inside int32
constexpr std::int64_t kMaxRelDistance = std::int64_t{1} << 20;
constexpr double kLog2e = 1.4426950408889634;

std::string n(std::int64_t v) { return std::to_string(v); }

// The coopmat forward's subgroups for forced settings: VKATTN_CM_SUBGROUPS, else those a forced
// query tile implies (four, eight for 256 rows: 32 each); 0 when neither is forced.
std::uint32_t forced_cm_subgroups(std::uint32_t forced_block_q, std::uint32_t forced_subgroups) {
  if (forced_subgroups != 0) return forced_subgroups;
  if (forced_block_q == 256) return 8;
  return forced_block_q != 0 ? kCmSubgroups : 0;
}

// Spec constants that follow from the desc alone (no tiles).
FwdSpecConstants feature_spec(const AttentionDesc& d) {
  FwdSpecConstants s;
  s.head_dim = static_cast<std::uint32_t>(d.head_dim);
  s.head_dim_v = static_cast<std::uint32_t>(d.head_dim_v == 0 ? d.head_dim : d.head_dim_v);
  s.dtype = static_cast<std::uint32_t>(d.dtype);
  s.write_lse = d.write_lse ? 1u : 0u;
  s.causal = d.mask.causal ? 1u : 0u;
  s.window = d.mask.has_window() ? 1u : 0u;
  s.documents = d.mask.documents ? 1u : 0u;
  s.seq_mode = static_cast<std::uint32_t>(d.sequences.varlen()   ? SeqMode::kVarlen
                                          : d.sequences.padded() ? SeqMode::kPadded
                                                                 : SeqMode::kDense);
  s.softcap = d.score_mod.softcap.has_value() ? 1u : 0u;
  s.alibi = static_cast<std::uint32_t>(d.score_mod.alibi);
  s.rel_pos = d.score_mod.rel_pos_max_distance.has_value() ? 1u : 0u;
  s.bias = d.score_mod.bias.has_value() ? shader::bias_value(*d.score_mod.bias) : shader::kBIAS_NONE;
  s.sinks = d.score_mod.sinks ? 1u : 0u;
  // The alignment is part of the variant only where something measures from the diagonal.
  const bool aligned = s.causal || s.window || s.alibi || s.rel_pos;
  s.align_br = aligned && d.mask.align == Align::kBottomRight ? 1u : 0u;
  s.block_q = s.block_k = s.key_step = 0;
  return s;
}

std::string feature_name_of(const FwdSpecConstants& s) {
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
  if (s.seq_mode == shader::kSEQ_PADDED) name += "_pad";
  if (s.seq_mode == shader::kSEQ_VARLEN) name += "_varlen";
  return name;
}

// "desc.sequences.cu_seqlens_q": B + 1 entries from 0, non-decreasing; returns the longest length.
Result<std::int64_t> check_cu_seqlens(const std::vector<std::int32_t>& cu, const char* name, std::int64_t batch) {
  const std::string f = std::string("desc.sequences.") + name;
  if (static_cast<std::int64_t>(cu.size()) != batch + 1) {
    return invalid(f + " has " + n(static_cast<std::int64_t>(cu.size())) +
                   " entries, expected desc.batch + 1 = " + n(batch + 1));
  }
  if (cu[0] != 0) return invalid(f + "[0] = " + n(cu[0]) + " (must be 0)");
  std::int64_t longest = 0;
  for (std::size_t b = 1; b < cu.size(); ++b) {
    if (cu[b] < cu[b - 1]) {
      return invalid(f + "[" + n(static_cast<std::int64_t>(b)) + "] = " + n(cu[b]) + " is less than " + name + "[" +
                     n(static_cast<std::int64_t>(b - 1)) + "] = " + n(cu[b - 1]) + " (must be non-decreasing)");
    }
    longest = std::max<std::int64_t>(longest, cu[b] - cu[b - 1]);
  }
  return longest;
}

Status check_seq_lens(const std::vector<std::int32_t>& lens, const char* name, std::int64_t batch, const char* seq_name,
                      std::int64_t seq) {
  if (lens.empty()) return Status::ok();
  const std::string f = std::string("desc.sequences.") + name;
  if (static_cast<std::int64_t>(lens.size()) != batch) {
    return invalid(f + " has " + n(static_cast<std::int64_t>(lens.size())) +
                   " entries, expected desc.batch = " + n(batch));
  }
  for (std::size_t b = 0; b < lens.size(); ++b) {
    if (lens[b] < 0 || lens[b] > seq) {
      return invalid(f + "[" + n(static_cast<std::int64_t>(b)) + "] = " + n(lens[b]) + " is outside [0, " + seq_name +
                     " = " + n(seq) + "]");
    }
  }
  return Status::ok();
}

Status check_sequences(const AttentionDesc& d, FwdProblem& p) {
  const Sequences& sq = d.sequences;
  if (sq.varlen() && sq.padded()) {
    return invalid("desc.sequences has both cu_seqlens (varlen) and seq_lens (padding); use one");
  }
  if (sq.varlen()) {
    Result<std::int64_t> lq = check_cu_seqlens(sq.cu_seqlens_q, "cu_seqlens_q", d.batch);
    if (!lq) return lq.status();
    Result<std::int64_t> lk = check_cu_seqlens(sq.cu_seqlens_k, "cu_seqlens_k", d.batch);
    if (!lk) return lk.status();
    if (d.seq_q != 0 && d.seq_q < *lq) {
      return invalid("desc.seq_q = " + n(d.seq_q) + " is less than the longest query sequence " + n(*lq) +
                     " (use 0 to take it from cu_seqlens_q)");
    }
    if (d.seq_k != 0 && d.seq_k < *lk) {
      return invalid("desc.seq_k = " + n(d.seq_k) + " is less than the longest key sequence " + n(*lk) +
                     " (use 0 to take it from cu_seqlens_k)");
    }
    p.seq_q = std::max<std::int64_t>({d.seq_q, *lq, 1});
    p.seq_k = std::max<std::int64_t>({d.seq_k, *lk, 1});
    p.total_q = sq.cu_seqlens_q.back();
    p.total_k = sq.cu_seqlens_k.back();
    p.seq_mode = SeqMode::kVarlen;
    return Status::ok();
  }
  VKATTN_TRY(check_seq_lens(sq.seq_lens_q, "seq_lens_q", d.batch, "desc.seq_q", d.seq_q));
  VKATTN_TRY(check_seq_lens(sq.seq_lens_kv, "seq_lens_kv", d.batch, "desc.seq_k", d.seq_k));
  p.seq_mode = sq.padded() ? SeqMode::kPadded : SeqMode::kDense;
  return Status::ok();
}

Status check_mask_and_mods(const AttentionDesc& d) {
  const Mask& m = d.mask;
  if (m.align != Align::kTopLeft && m.align != Align::kBottomRight) {
    return invalid("desc.mask.align = " + n(static_cast<std::int64_t>(m.align)) + " is not an Align value");
  }
  if (m.window_left && *m.window_left < 0) {
    return invalid("desc.mask.window_left = " + n(*m.window_left) + " is negative (leave it unset for no bound)");
  }
  if (m.window_right && *m.window_right < 0) {
    return invalid("desc.mask.window_right = " + n(*m.window_right) + " is negative (leave it unset for no bound)");
  }
  const ScoreMod& s = d.score_mod;
  // The kernel works in log2 units: c * log2(e) must be a normal float.
  if (s.softcap &&
      !(*s.softcap > 0.0f && std::isnormal(static_cast<float>(static_cast<double>(*s.softcap) * kLog2e)))) {
    return invalid("desc.score_mod.softcap = " + std::to_string(*s.softcap) +
                   " (must be > 0, with c * log2(e) a normal float)");
  }
  if (static_cast<std::uint32_t>(s.alibi) > 2) {
    return invalid("desc.score_mod.alibi = " + n(static_cast<std::int64_t>(s.alibi)) + " is not an Alibi value");
  }
  if (s.rel_pos_max_distance && (*s.rel_pos_max_distance < 0 || *s.rel_pos_max_distance > kMaxRelDistance)) {
    return invalid("desc.score_mod.rel_pos_max_distance = " + n(*s.rel_pos_max_distance) + " (must be in [0, " +
                   n(kMaxRelDistance) + "])");
  }
  if (s.bias && *s.bias != DType::kF32 && *s.bias != DType::kF16) {
    return invalid(std::string("desc.score_mod.bias = ") + to_string(*s.bias) + " (must be f32 or f16)");
  }
  return Status::ok();
}

Status check_head_dim(const char* field, std::int64_t v) {
  if (v < 8 || v > kMaxHeadDim || v % 8 != 0) {
    return invalid(std::string(field) + " = " + n(v) + " (must be a multiple of 8 in [8, 256])");
  }
  return Status::ok();
}

}  // namespace

Result<KernelPath> requested_path(KernelPath path) {
  if (path != KernelPath::kAuto) return path;
  const char* env = std::getenv("VKATTN_PATH");
  if (env == nullptr || *env == '\0' || std::string(env) == "auto") return KernelPath::kAuto;
  if (std::string(env) == "scalar") return KernelPath::kScalar;
  if (std::string(env) == "coopmat") return KernelPath::kCoopmat;
  return Status(ErrorCode::kInvalidArgument,
                "VKATTN_PATH = \"" + std::string(env) + "\" is not auto, scalar or coopmat");
}

std::string feature_name(const AttentionDesc& desc) { return feature_name_of(feature_spec(desc)); }

Result<FwdProblem> resolve_problem(const AttentionDesc& d, const DeviceInfo& info) {
  if (d.dtype != DType::kF32 && d.dtype != DType::kF16) {
    return invalid(std::string("desc.dtype = ") + to_string(d.dtype) + " (must be f32 or f16)");
  }
  if (d.batch < 1) return invalid("desc.batch = " + n(d.batch) + " (must be >= 1)");
  if (d.q_heads < 1) return invalid("desc.q_heads = " + n(d.q_heads) + " (must be >= 1)");
  FwdProblem p;
  p.desc = d;
  p.kv_heads = d.kv_heads == 0 ? d.q_heads : d.kv_heads;
  if (p.kv_heads < 1) return invalid("desc.kv_heads = " + n(d.kv_heads) + " (must be >= 1, or 0 for q_heads)");
  if (d.q_heads % p.kv_heads != 0) {
    return invalid("desc.kv_heads = " + n(p.kv_heads) + " does not divide desc.q_heads = " + n(d.q_heads));
  }
  p.seq_q = d.seq_q;
  p.seq_k = d.seq_k;
  if (!d.sequences.varlen()) {
    if (d.seq_q < 1 || d.seq_q > kMaxSeq) return invalid("desc.seq_q = " + n(d.seq_q) + " (must be in [1, 2^28])");
    if (d.seq_k < 1 || d.seq_k > kMaxSeq) return invalid("desc.seq_k = " + n(d.seq_k) + " (must be in [1, 2^28])");
  }
  VKATTN_TRY(check_sequences(d, p));
  if (p.seq_q > kMaxSeq || p.seq_k > kMaxSeq || p.total_q > kMaxSeq || p.total_k > kMaxSeq) {
    return invalid("desc.sequences: more than 2^28 tokens");
  }
  VKATTN_TRY(check_head_dim("desc.head_dim", d.head_dim));
  p.head_dim_v = d.head_dim_v == 0 ? d.head_dim : d.head_dim_v;
  if (d.head_dim_v != 0) VKATTN_TRY(check_head_dim("desc.head_dim_v", d.head_dim_v));
  if (d.scale.has_value() && !std::isfinite(static_cast<float>(static_cast<double>(*d.scale) * kLog2e))) {
    return invalid("desc.scale = " + std::to_string(*d.scale) +
                   " is not finite (or scale * log2(e) overflows a float)");
  }
  VKATTN_TRY(check_mask_and_mods(d));
  if (d.path != KernelPath::kAuto && d.path != KernelPath::kScalar && d.path != KernelPath::kCoopmat) {
    return invalid("desc.path = " + n(static_cast<std::int64_t>(d.path)) + " is not a KernelPath value");
  }
  Result<KernelPath> path = requested_path(d.path);
  if (!path) return path.status();
  const std::string blocker = coopmat_blocker(p, info);
  if (path.value() == KernelPath::kCoopmat && !blocker.empty()) {
    return unsupported(std::string(d.path == KernelPath::kCoopmat ? "desc.path" : "VKATTN_PATH") +
                       " = coopmat: " + blocker);
  }
  p.coopmat = path.value() != KernelPath::kScalar && blocker.empty();
  // The tuning overrides are checked on every device and used on the coopmat path.
  Result<std::uint32_t> forced_bk = cm_block_k_override();
  if (!forced_bk) return forced_bk.status();
  Result<std::uint32_t> forced_bq = cm_block_q_override();
  if (!forced_bq) return forced_bq.status();
  Result<std::uint32_t> forced_sg = cm_subgroups_override();
  if (!forced_sg) return forced_sg.status();
  const std::uint32_t sg = forced_cm_subgroups(forced_bq.value(), forced_sg.value());
  const std::string sg_source = forced_sg.value() != 0 ? "VKATTN_CM_SUBGROUPS = " + n(forced_sg.value())
                                                       : "VKATTN_CM_BLOCK_Q = " + n(forced_bq.value());
  if (p.coopmat && 32 * sg > info.max_workgroup_invocations) {
    return unsupported(
        sg_source + " needs " + n(32 * sg) +
        " invocations per workgroup, more than maxComputeWorkGroupInvocations = " + n(info.max_workgroup_invocations));
  }
  if (p.coopmat && forced_bq.value() != 0 && forced_sg.value() != 0) {
    const std::uint32_t rows = forced_bq.value() / forced_sg.value();
    if (rows != 16 && rows != 32) {
      return invalid("VKATTN_CM_BLOCK_Q = " + n(forced_bq.value()) + " with VKATTN_CM_SUBGROUPS = " +
                     n(forced_sg.value()) + " gives " + n(rows) + " rows per subgroup (needs 16 or 32)");
    }
  }
  // A forced key tile, or eight subgroups (whose output scratch is twice four's): the least shared
  // memory any query tile then needs (Q in registers; 16 keys unless forced) must fit.
  if (p.coopmat && (forced_bk.value() != 0 || sg > kCmSubgroups)) {
    const std::uint32_t least_sg = sg != 0 ? sg : kCmSubgroups;
    const std::uint32_t bk = forced_bk.value() != 0 ? forced_bk.value() : 16;
    const std::uint32_t bytes = cm_shared_bytes(16 * least_sg, bk, static_cast<std::uint32_t>(d.head_dim),
                                                static_cast<std::uint32_t>(p.head_dim_v), false, least_sg);
    if (bytes > info.max_shared_memory) {
      std::string what = forced_bk.value() != 0 ? "VKATTN_CM_BLOCK_K = " + n(forced_bk.value()) : "";
      if (sg > kCmSubgroups) what += (what.empty() ? "" : " with ") + sg_source;
      return unsupported(
          what + " needs " + n(bytes) +
          " bytes of shared memory, more than maxComputeSharedMemorySize = " + n(info.max_shared_memory));
    }
  }
  if (p.coopmat) {
    p.cm_block_k = forced_bk.value();
    p.cm_block_q = forced_bq.value();
    p.cm_subgroups = sg;
  }

  const FwdSpecConstants spec = choose_fwd_variant(p, info);
  if (spec.block_k < spec.key_step) {
    return unsupported("desc.head_dim = " + n(d.head_dim) + ", desc.head_dim_v = " + n(p.head_dim_v) + ": " +
                       n(kKeyStep) + " K/V rows exceed maxComputeSharedMemorySize = " + n(info.max_shared_memory));
  }
  const std::int64_t groups_y = d.batch * d.q_heads;
  if (groups_y > static_cast<std::int64_t>(info.max_workgroup_count[1])) {
    return invalid("desc.batch * desc.q_heads = " + n(groups_y) +
                   " exceeds maxComputeWorkGroupCount[1] = " + n(info.max_workgroup_count[1]));
  }
  const std::int64_t groups_x = (p.seq_q + spec.block_q - 1) / spec.block_q;
  if (groups_x > static_cast<std::int64_t>(info.max_workgroup_count[0])) {
    return invalid("desc.seq_q = " + n(p.seq_q) + " needs " + n(groups_x) +
                   " workgroups, more than maxComputeWorkGroupCount[0] = " + n(info.max_workgroup_count[0]));
  }
  if (info.max_loop_iterations != 0) {
    const std::uint64_t needed = fwd_loop_iterations(spec, p.seq_k);
    if (needed > info.max_loop_iterations) {
      return unsupported("desc.seq_k = " + n(p.seq_k) + " needs " + n(static_cast<std::int64_t>(needed)) +
                         " loop iterations per invocation; " + info.name + " ends shaders after " +
                         n(info.max_loop_iterations) + " (llvmpipe's loop limit): split the keys and merge");
    }
  }
  return p;
}

std::uint32_t cm_shared_bytes(std::uint32_t block_q, std::uint32_t block_k, std::uint32_t dk, std::uint32_t dv,
                              bool q_shared, std::uint32_t subgroups) {
  return (block_k + (q_shared ? block_q : 0)) * (dk / 4 + 2) * 8  // tile_dk_sh: K tile, Q rows
         + block_k * (dv / 4 + 2) * 8                             // tile_dv_sh
         + subgroups * 16 * 20 * 4                                // out_sh: 16 x 20 floats per subgroup
         + block_k * 4 + 16;                                      // doc_k_tile, doc_range
}

Result<std::uint32_t> tile_override(const char* var, std::initializer_list<std::uint32_t> allowed) {
  const char* env = std::getenv(var);
  if (env == nullptr || *env == '\0') return std::uint32_t{0};
  const std::string text(env);
  std::string list;
  for (std::uint32_t v : allowed) {
    if (text == std::to_string(v)) return v;
    list += (list.empty() ? "" : v == *(allowed.end() - 1) ? " or " : ", ") + std::to_string(v);
  }
  return Status(ErrorCode::kInvalidArgument, std::string(var) + " = \"" + text + "\" is not " + list);
}

Result<std::uint32_t> cm_block_k_override() { return tile_override("VKATTN_CM_BLOCK_K", {16, 32, 64}); }

Result<std::uint32_t> cm_block_q_override() { return tile_override("VKATTN_CM_BLOCK_Q", {64, 128, 256}); }

Result<std::uint32_t> cm_subgroups_override() { return tile_override("VKATTN_CM_SUBGROUPS", {4, 8}); }

std::uint32_t cm_fwd_fragment_registers(std::uint32_t block_q, std::uint32_t block_k, std::uint32_t dk,
                                        std::uint32_t dv, bool q_shared, std::uint32_t subgroups) {
  const std::uint32_t rf = block_q / (16 * subgroups);               // row fragments per subgroup
  return rf * (dv / 16) * 8                                          // O accumulators
         + (q_shared ? 0 : rf * (dk / 16) * 4)                       // Q operands
         + rf * (block_k / 16) * 8                                   // S accumulators
         + 4 * cm_prefetch_chunks(block_k, dk, dv, 32 * subgroups);  // next K/V tile
}

std::uint32_t cm_prefetch_chunks(std::uint32_t rows, std::uint32_t dk, std::uint32_t dv, std::uint32_t invocations) {
  const auto per_invocation = [&](std::uint32_t width) { return (rows * (width / 8) + invocations - 1) / invocations; };
  return per_invocation(dk) + per_invocation(dv);
}

std::string coopmat_blocker(const FwdProblem& p, const DeviceInfo& info) {
  if (!info.coopmat) {
    return "the device has no usable VK_NV_cooperative_matrix (fp16 16x16x16 at subgroup scope, shaderFloat16, "
           "32-lane subgroups with shuffles, and the accumulator layout the kernels index by, which the context "
           "checked at creation)";
  }
  if (p.desc.dtype != DType::kF16) return std::string("desc.dtype = ") + to_string(p.desc.dtype) + " (needs f16)";
  if (p.desc.head_dim % 16 != 0) return "desc.head_dim = " + n(p.desc.head_dim) + " (needs a multiple of 16)";
  if (p.head_dim_v % 16 != 0) return "head_dim_v = " + n(p.head_dim_v) + " (needs a multiple of 16)";
  if (info.max_workgroup_invocations < 32 * kCmSubgroups) return "maxComputeWorkGroupInvocations < 128";
  const auto dk = static_cast<std::uint32_t>(p.desc.head_dim);
  const auto dv = static_cast<std::uint32_t>(p.head_dim_v);
  if (cm_shared_bytes(kCmBlockQ, 16, dk, dv, false, kCmSubgroups) > info.max_shared_memory) {
    return "head dims " + n(dk) + "/" + n(dv) + " need " +
           n(cm_shared_bytes(kCmBlockQ, 16, dk, dv, false, kCmSubgroups)) +
           " bytes of shared memory, more than maxComputeSharedMemorySize = " + n(info.max_shared_memory);
  }
  return "";
}

FwdSpecConstants choose_fwd_variant(const FwdProblem& p, const DeviceInfo& info) {
  FwdSpecConstants spec = feature_spec(p.desc);
  if (p.coopmat) {
    spec.key_step = 1;  // unused by attn_fwd_cm.comp
    // Q goes to shared memory whenever it fits there (its registers then hold more S).
    const auto fits = [&](std::uint32_t bq, std::uint32_t bk, bool qs, std::uint32_t sg) {
      return cm_shared_bytes(bq, bk, spec.head_dim, spec.head_dim_v, qs, sg) <= info.max_shared_memory;
    };
    // Subgroup w owns rows 16 RF w .. of the block (RF = 1 or 2 row fragments). The longest key
    // tile (64, 32, 16) whose shared memory fits and whose fragments stay within the register
    // budget, for the first shape that reaches it in the order 4 subgroups x 2 fragments (each
    // K/V fragment read feeds two products), 8 x 1 (the same 128 rows), 4 x 1, 8 x 2. Measured on
    // the H100 (RESULTS_H100.md, eighth and ninth sessions) at D = 64 and 128 only: each key tile
    // costs two barriers and a fetch, and at D = 128 8 x 1 with 64 keys ran 149 TFLOP/s against
    // 141 for 4 x 2 with 16; at D = 64, 4 x 2 reaches 64 keys and eight subgroups lost 24 %, and
    // 64-row blocks (4 x 1) lost to 128-row ones, so they come after both 128-row shapes. Other
    // head dims follow the same rule unmeasured. When no tile is within the budget (e.g.
    // Dk = Dv = 256): the fewest registers, 4 x 1 and 16 keys, Q where it fits (coopmat_blocker
    // checked the shared memory with Q in registers). Forced tiles may exceed the budget; they
    // are for tuning.
    struct Shape {
      std::uint32_t subgroups, rf;
    };
    std::uint32_t bq = 0;
    std::uint32_t bk = 0;
    std::uint32_t sg = 0;
    bool q_shared = false;
    for (const Shape shape : {Shape{4, 2}, Shape{8, 1}, Shape{4, 1}, Shape{8, 2}}) {
      const std::uint32_t q = 16 * shape.subgroups * shape.rf;
      if ((p.cm_subgroups != 0 && shape.subgroups != p.cm_subgroups) || (p.cm_block_q != 0 && q != p.cm_block_q)) {
        continue;
      }
      if (info.max_workgroup_invocations < 32 * shape.subgroups) continue;
      for (std::uint32_t k : {64u, 32u, 16u}) {
        if (k <= bk || (p.cm_block_k != 0 && k != p.cm_block_k)) continue;
        const bool qs = fits(q, k, true, shape.subgroups);
        if (fits(q, k, qs, shape.subgroups) && cm_fwd_fragment_registers(q, k, spec.head_dim, spec.head_dim_v, qs,
                                                                         shape.subgroups) <= kCmFragmentRegisters) {
          bq = q;
          bk = k;
          sg = shape.subgroups;
          q_shared = qs;
          break;  // this shape's longest key tile
        }
      }
    }
    if (bk == 0) {
      sg = forced_cm_subgroups(p.cm_block_q, p.cm_subgroups);
      if (sg == 0) sg = kCmSubgroups;
      bq = p.cm_block_q != 0 ? p.cm_block_q : 16 * sg;
      bk = p.cm_block_k != 0 ? p.cm_block_k : 16;  // VKATTN_CM_BLOCK_K, checked by resolve_problem
      q_shared = fits(bq, bk, true, sg);
    }
    spec.block_q = bq;
    spec.block_k = bk;
    spec.workgroup_size = 32 * sg;
    spec.q_shared = q_shared ? 1 : 0;
    return spec;
  }
  spec.block_q = std::min<std::uint32_t>(kBlockQ, info.max_workgroup_invocations);
  spec.workgroup_size = spec.block_q;
  spec.key_step = kKeyStep;
  // Per key: one fp32 K row, one fp32 V row and a document id; plus 16 bytes of tile ranges.
  const std::uint32_t bytes_per_key = (spec.head_dim + spec.head_dim_v) * 4u + 4u;
  std::uint32_t bk = std::min(kMaxBlockK, spec.block_q);
  while (bk >= kKeyStep && bk * bytes_per_key + 16u > info.max_shared_memory) bk /= 2;
  spec.block_k = bk;
  return spec;
}

std::string fwd_variant_name(const FwdSpecConstants& s, bool coopmat) {
  std::string name = "attn_fwd_" + feature_name_of(s);
  name += "_bq" + std::to_string(s.block_q) + "_bk" + std::to_string(s.block_k) + (s.q_shared ? "_qsh" : "");
  // The coopmat kernels' workgroup: subgroups of 32 (the scalar kernel's is BLOCK_Q, its key step
  // KEY_STEP).
  name += coopmat ? "_sg" + std::to_string(s.workgroup_size / 32) : "_ks" + std::to_string(s.key_step);
  name += s.write_lse ? "_lse" : "_nolse";
  name += coopmat ? "_coopmat" : "_scalar";
  return name;
}

std::uint64_t fwd_loop_iterations(const FwdSpecConstants& s, std::int64_t seq_k) {
  const std::uint64_t tiles = (static_cast<std::uint64_t>(seq_k) + s.block_k - 1) / s.block_k;
  const std::uint64_t tile_vec4s = static_cast<std::uint64_t>(s.block_k) * (std::max(s.head_dim, s.head_dim_v) / 4);
  const std::uint64_t loads = (tile_vec4s + s.block_q - 1) / s.block_q;
  return tiles * (1 + loads + 2 * (s.block_k / s.key_step)) + 1;
}

}  // namespace vkattn
