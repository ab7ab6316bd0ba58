#include "fwd_variant.hpp"

#include <cmath>
#include <string>

#include "vk_util.hpp"

namespace vkattn {

const char* to_string(Causal c) {
  switch (c) {
    case Causal::kNone: return "none";
    case Causal::kTopLeft: return "causal_tl";
    case Causal::kBottomRight: return "causal_br";
  }
  return "unknown";
}

const char* to_string(KernelPath p) {
  switch (p) {
    case KernelPath::kAuto: return "auto";
    case KernelPath::kScalar: return "scalar";
  }
  return "unknown";
}

namespace {
constexpr std::uint32_t kBlockQ = 64;
constexpr std::uint32_t kKeyStep = 2;
constexpr std::int64_t kMaxHeadDim = 256;
constexpr std::int64_t kMaxSeq = std::int64_t{1} << 30;

std::string n(std::int64_t v) { return std::to_string(v); }
}  // namespace

FwdSpecConstants choose_fwd_variant(const AttentionDesc& desc, const DeviceInfo& info) {
  FwdSpecConstants spec;
  spec.head_dim = static_cast<std::uint32_t>(desc.head_dim);
  spec.block_q = std::min<std::uint32_t>(kBlockQ, info.max_workgroup_invocations);
  const std::uint32_t bytes_per_key = 2u * spec.head_dim * 4u;  // one K row + one V row, fp32
  std::uint32_t bk = 64;
  while (bk > kKeyStep && bk * bytes_per_key > info.max_shared_memory) bk /= 2;
  spec.block_k = bk;
  spec.dtype = static_cast<std::uint32_t>(desc.dtype);
  spec.causal = static_cast<std::uint32_t>(desc.mask.causal);
  spec.write_lse = desc.write_lse ? 1u : 0u;
  spec.key_step = kKeyStep;
  return spec;
}

std::string fwd_variant_name(const FwdSpecConstants& s) {
  std::string name = "attn_fwd_d" + std::to_string(s.head_dim);
  name += s.dtype == static_cast<std::uint32_t>(DType::kF16) ? "_f16" : "_f32";
  name += std::string("_") + (s.causal == 0 ? "nomask" : to_string(static_cast<Causal>(s.causal)));
  name += "_bq" + std::to_string(s.block_q) + "_bk" + std::to_string(s.block_k) + "_ks" + std::to_string(s.key_step);
  name += s.write_lse ? "_lse" : "_nolse";
  name += "_scalar";
  return name;
}

Status validate_desc(const AttentionDesc& d, const DeviceInfo& info) {
  if (d.dtype != DType::kF32 && d.dtype != DType::kF16) {
    return invalid("desc.dtype = " + n(static_cast<std::int64_t>(d.dtype)) + " is not f32 or f16");
  }
  if (d.batch < 1) return invalid("desc.batch = " + n(d.batch) + " (must be >= 1)");
  if (d.q_heads < 1) return invalid("desc.q_heads = " + n(d.q_heads) + " (must be >= 1)");
  const std::int64_t kv_heads = d.kv_heads == 0 ? d.q_heads : d.kv_heads;
  if (kv_heads < 1) return invalid("desc.kv_heads = " + n(d.kv_heads) + " (must be >= 1, or 0 for q_heads)");
  if (d.q_heads % kv_heads != 0) {
    return invalid("desc.kv_heads = " + n(kv_heads) + " does not divide desc.q_heads = " + n(d.q_heads));
  }
  if (d.seq_q < 1 || d.seq_q > kMaxSeq) return invalid("desc.seq_q = " + n(d.seq_q) + " (must be in [1, 2^30])");
  if (d.seq_k < 1 || d.seq_k > kMaxSeq) return invalid("desc.seq_k = " + n(d.seq_k) + " (must be in [1, 2^30])");
  if (d.head_dim < 8 || d.head_dim > kMaxHeadDim || d.head_dim % 8 != 0) {
    return invalid("desc.head_dim = " + n(d.head_dim) + " (must be a multiple of 8 in [8, 256])");
  }
  if (d.scale.has_value() && !std::isfinite(*d.scale)) {
    return invalid("desc.scale = " + std::to_string(*d.scale) + " is not finite");
  }
  const auto causal = static_cast<std::uint32_t>(d.mask.causal);
  if (causal > 2) return invalid("desc.mask.causal = " + n(causal) + " is not a Causal value");
  if (d.path != KernelPath::kAuto && d.path != KernelPath::kScalar) {
    return invalid("desc.path = " + n(static_cast<std::int64_t>(d.path)) + " is not a KernelPath value");
  }
  if (2u * kKeyStep * static_cast<std::uint64_t>(d.head_dim) * 4u > info.max_shared_memory) {
    return Status(ErrorCode::kUnsupported, "desc.head_dim = " + n(d.head_dim) + ": " + n(kKeyStep) +
                                               " K/V row pairs exceed maxComputeSharedMemorySize = " +
                                               n(info.max_shared_memory));
  }
  const std::int64_t groups_y = d.batch * d.q_heads;
  if (groups_y > static_cast<std::int64_t>(info.max_workgroup_count[1])) {
    return invalid("desc.batch * desc.q_heads = " + n(groups_y) + " exceeds maxComputeWorkGroupCount[1] = " +
                   n(info.max_workgroup_count[1]));
  }
  const FwdSpecConstants spec = choose_fwd_variant(d, info);
  const std::int64_t groups_x = (d.seq_q + spec.block_q - 1) / spec.block_q;
  if (groups_x > static_cast<std::int64_t>(info.max_workgroup_count[0])) {
    return invalid("desc.seq_q = " + n(d.seq_q) + " needs " + n(groups_x) +
                   " workgroups, more than maxComputeWorkGroupCount[0] = " + n(info.max_workgroup_count[0]));
  }
  if (info.max_loop_iterations != 0) {
    const std::uint64_t needed = fwd_loop_iterations(spec, d.seq_k);
    if (needed > info.max_loop_iterations) {
      return Status(ErrorCode::kUnsupported,
                    "desc.seq_k = " + n(d.seq_k) + " needs " + n(static_cast<std::int64_t>(needed)) +
                        " loop iterations per invocation; " + info.name + " ends shaders after " +
                        n(info.max_loop_iterations) + " (llvmpipe's loop limit): split the keys and merge");
    }
  }
  return Status::ok();
}

std::uint64_t fwd_loop_iterations(const FwdSpecConstants& s, std::int64_t seq_k) {
  const std::uint64_t tiles = (static_cast<std::uint64_t>(seq_k) + s.block_k - 1) / s.block_k;
  const std::uint64_t tile_vec4s = static_cast<std::uint64_t>(s.block_k) * (s.head_dim / 4);
  const std::uint64_t loads = (tile_vec4s + s.block_q - 1) / s.block_q;
  return tiles * (1 + loads + 2 * (s.block_k / s.key_step)) + 1;
}

}  // namespace vkattn
