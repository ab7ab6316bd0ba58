// Typed C++ mirrors of the backward kernels' specialization and push constants, generated from
// the lists the shaders include (shaders/attn_bwd_spec.inc, attn_bwd_push.inc,
// attn_bwd_pre_push.inc).
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "attn_fwd_interface.hpp"

namespace vkattn {

// Bindings of attn_bwd_dq.comp, attn_bwd_dkdv.comp, their _cm versions, and attn_bwd_dparam.comp
// (shaders/attn_bwd_bindings.glsl).
enum BwdBinding : std::uint32_t {
  kBwdQ = 0,
  kBwdK,
  kBwdV,
  kBwdDo,
  kBwdOut0,  // dQ, or dK
  kBwdOut1,  // unused, or dV
  kBwdParams,
  kBwdWork,
  kBwdBias,
  kBwdSlopes,
  kBwdTable,
  kBwdDocsQ,
  kBwdDocsK,
  kBwdSinks,
  kBwdBindingCount,
};

// Bindings of attn_bwd_pre.comp.
enum BwdPreBinding : std::uint32_t { kPreO = 0, kPreDo, kPreLse, kPreParams, kPreWork, kPreBindingCount };

struct BwdSpecConstants {
#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
#include "attn_bwd_spec.inc"
#undef VKATTN_SPEC
  bool operator==(const BwdSpecConstants&) const = default;
};

inline constexpr std::size_t kBwdSpecCount = 0
#define VKATTN_SPEC(id, NAME, field, def) +1
#include "attn_bwd_spec.inc"
#undef VKATTN_SPEC
    ;
static_assert(sizeof(BwdSpecConstants) == kBwdSpecCount * 4, "spec constants must be packed uint32");

inline std::array<VkSpecializationMapEntry, kBwdSpecCount> bwd_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) \
  {id, static_cast<std::uint32_t>(offsetof(BwdSpecConstants, field)), sizeof(std::uint32_t)},
#include "attn_bwd_spec.inc"
#undef VKATTN_SPEC
  }};
}

struct BwdPushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_bwd_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(BwdPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

struct BwdParamPushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_bwd_dparam_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(BwdParamPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

// Values of the PARAM specialization constant of attn_bwd_dparam.comp (named for the shaders in
// shaders/attn_enums.inc; attn_enums.hpp checks that the two agree).
enum class BwdParam : std::uint32_t { kNone = 0, kBias = 1, kTable = 2, kSinks = 3 };

struct BwdPrePushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_bwd_pre_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(BwdPrePushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

}  // namespace vkattn
