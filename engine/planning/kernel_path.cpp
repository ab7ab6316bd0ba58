#include "planning/kernel_path.hpp"

#include <string>

#include "base/vk_util.hpp"
#include "planning/bwd_tiles.hpp"
#include "planning/fwd_tiles.hpp"
#include "planning/split_k.hpp"

namespace vkattn {
namespace {
std::string forward_blocker(const Problem& p, const DeviceInfo& info, bool khr) {
  const ToolchainInfo t = toolchain_info();
  if (khr ? !t.khr_cooperative_matrix : !t.nv_cooperative_matrix) {
    return std::string("not compiled in: ") + (khr ? t.khr_cooperative_matrix_reason : t.nv_cooperative_matrix_reason);
  }
  if (khr ? !info.coopmat_khr : !info.coopmat) {
    return std::string("the device has no usable ") + (khr ? "VK_KHR_cooperative_matrix" : "VK_NV_cooperative_matrix") +
           " (fp16 16x16x16 at subgroup scope, shaderFloat16, 32-lane subgroups with shuffles, and the fragment "
           "layouts the kernels index by, which the context checked at creation)";
  }
  if (p.desc.dtype != DType::kF16 && p.desc.dtype != DType::kBF16) {
    return std::string("desc.dtype = ") + to_string(p.desc.dtype) + " (needs f16, or bf16 on fp16 operands)";
  }
  if (info.max_workgroup_invocations < 32 * kCmSmallestSubgroups) return "maxComputeWorkGroupInvocations < 128";
  const auto dk = static_cast<std::uint32_t>(p.desc.head_dim);
  const auto dv = static_cast<std::uint32_t>(p.head_dim_v);
  if (cm_shared_bytes(kCmSmallestBlockQ, kCmSmallestBlockK, dk, dv, false, kCmSmallestSubgroups) >
      info.max_shared_memory) {
    return "head dims " + num(dk) + "/" + num(dv) + " need " +
           num(cm_shared_bytes(kCmSmallestBlockQ, kCmSmallestBlockK, dk, dv, false, kCmSmallestSubgroups)) +
           " bytes of shared memory, more than maxComputeSharedMemorySize = " + num(info.max_shared_memory);
  }
  return "";
}

std::string backward_blocker(const Problem& p, const DeviceInfo& info) {
  const auto dk = static_cast<std::uint32_t>(p.desc.head_dim);
  const auto dv = static_cast<std::uint32_t>(p.head_dim_v);
  if (cm_bwd_shared_bytes(kCmBwdSmallestRows, kCmBwdSmallestCols, dk, dv) > info.max_shared_memory) {
    return "the backward's head dims " + num(dk) + "/" + num(dv) + " need " +
           num(cm_bwd_shared_bytes(kCmBwdSmallestRows, kCmBwdSmallestCols, dk, dv)) +
           " bytes of shared memory, more than maxComputeSharedMemorySize = " + num(info.max_shared_memory);
  }
  return "";
}

}  // namespace

const char* to_string(KernelPath p) {
  switch (p) {
    case KernelPath::kAuto:
      return "auto";
    case KernelPath::kScalar:
      return "scalar";
    case KernelPath::kCoopmat:
      return "coopmat";
    case KernelPath::kCoopmatKhr:
      return "coopmat_khr";
    case KernelPath::kCoopmat2:
      return "coopmat2";
  }
  return "unknown";
}

std::optional<KernelPath> kernel_path_from_string(std::string_view name) {
  for (KernelPath p : {KernelPath::kAuto, KernelPath::kScalar, KernelPath::kCoopmat, KernelPath::kCoopmatKhr,
                       KernelPath::kCoopmat2}) {
    if (name == to_string(p)) return p;
  }
  return std::nullopt;
}

bool is_kernel_path(KernelPath p) { return static_cast<std::uint32_t>(p) <= static_cast<std::uint32_t>(KernelPath::kCoopmat2); }

std::string coopmat_blocker(const Problem& p, Pass pass, const DeviceInfo& info, bool khr) {
  std::string reason = forward_blocker(p, info, khr);
  if (reason.empty() && pass == Pass::kBackward) reason = backward_blocker(p, info);
  return reason;
}

std::string coopmat2_blocker(const Problem& p, Pass pass, const DeviceInfo& info, const Overrides& o) {
  const ToolchainInfo t = toolchain_info();
  if (!t.nv_cooperative_matrix2 || !t.khr_cooperative_matrix) {
    return std::string("not compiled in: ") +
           (!t.nv_cooperative_matrix2 ? t.nv_cooperative_matrix2_reason : t.khr_cooperative_matrix_reason);
  }
  if (!info.coopmat2) {
    return "the device has no usable VK_NV_cooperative_matrix2 (workgroup scope, flexible dimensions with fp16 "
           "shapes, reductions, conversions, per-element operations and tensor addressing, with "
           "storageBuffer16BitAccess and a usable VK_KHR_cooperative_matrix)";
  }
  if (p.desc.dtype != DType::kF16) {
    return std::string("desc.dtype = ") + to_string(p.desc.dtype) + " (the cooperative-matrix-2 kernels take f16)";
  }
  if (pass == Pass::kForward && decode_shaped(p)) {
    return "decode: " + num(p.desc.q_heads / p.kv_heads * p.seq_q) +
           " query rows per KV head run packed and split-K on the coopmat kernels";
  }
  if (p.desc.paged_kv.enabled()) return "a paged cache runs on the coopmat kernels";
  if (pass == Pass::kForward && o.splits.value > 1) return o.splits.text() + ": split-K runs on the coopmat kernels";
  if (info.max_workgroup_invocations < 128) return "maxComputeWorkGroupInvocations < 128";
  return "";
}

Result<PathChoice> choose_path(const Problem& p, Pass pass, const DeviceInfo& info, const Overrides& o) {
  const bool explicit_path = p.desc.path != KernelPath::kAuto;
  const KernelPath requested = explicit_path ? p.desc.path : o.path;
  const std::string who = explicit_path ? "desc.path" : o.path_source;
  switch (requested) {
    case KernelPath::kScalar:
      return PathChoice{false, false, who + " = scalar"};
    case KernelPath::kCoopmat:
    case KernelPath::kCoopmatKhr: {
      const bool khr = requested == KernelPath::kCoopmatKhr;
      const std::string name = to_string(requested);
      if (std::string blocker = coopmat_blocker(p, pass, info, khr); !blocker.empty()) {
        return unsupported(who + " = " + name + ": " + blocker);
      }
      return PathChoice{true, khr, who + " = " + name};
    }
    case KernelPath::kCoopmat2: {
      if (std::string blocker = coopmat2_blocker(p, pass, info, o); !blocker.empty()) {
        return unsupported(who + " = coopmat2: " + blocker);
      }
      PathChoice c;
      c.cm2 = true;
      c.reason = who + " = coopmat2";
      return c;
    }
    case KernelPath::kAuto:
      break;
  }
  // Automatic, where cooperative matrix 2 is preferred (kCoopmat2ByDefault, or the cm2 override)
  // and can run the pass.
  if (o.cm2.value != kCoopmat2Off && (kCoopmat2ByDefault || o.cm2.value == 1) &&
      coopmat2_blocker(p, pass, info, o).empty()) {
    PathChoice c;
    c.cm2 = true;
    c.reason = "auto: coopmat2" + (o.cm2.value == 1 ? " (" + o.cm2.text() + ")" : std::string());
    return c;
  }
  // Automatic: the KHR build where it is preferred (kCoopmatKhrByDefault, or the cm_khr override)
  // and can run, else the NV build.
  const bool prefer_khr = kCoopmatKhrByDefault || o.cm_khr.value == 1;
  const bool khr = prefer_khr && coopmat_blocker(p, pass, info, true).empty();
  const std::string blocker = khr ? "" : coopmat_blocker(p, pass, info, false);
  const std::string auto_name =
      khr ? "auto: coopmat_khr" + (o.cm_khr.value == 1 ? " (" + o.cm_khr.text() + ")" : std::string()) : "auto: coopmat";
  const bool decode = pass == Pass::kForward && decode_shaped(p);
  if (blocker.empty() && !kCoopmatBf16ByDefault && p.desc.dtype == DType::kBF16) {
    return PathChoice{false, false,
                      "auto: scalar (bf16: the coopmat kernels take it on fp16 operands when asked for, and by "
                      "default once verified on a GPU)"};
  }
  if (blocker.empty() && !(kCoopmatDecodeByDefault && khr) && (decode || p.desc.paged_kv.enabled())) {
    return PathChoice{false, false,
                      std::string("auto: scalar (") +
                          (decode ? "decode: " + num(p.desc.q_heads / p.kv_heads * p.seq_q) +
                                        " query rows per KV head run packed and split-K"
                                  : "a paged cache") +
                          "; the NV build of the coopmat kernel takes it when asked for, the KHR build by default)"};
  }
  if (blocker.empty()) {
    if (decode) {
      return PathChoice{true, khr, auto_name + " (decode: " + num(p.desc.q_heads / p.kv_heads * p.seq_q) +
                                       " query rows per KV head run packed and split-K)"};
    }
    return PathChoice{true, khr, auto_name};
  }
  return PathChoice{false, false, "auto: scalar (" + blocker + ")"};
}

}  // namespace vkattn
