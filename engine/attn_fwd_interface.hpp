// Typed C++ mirrors of the forward kernels' specialization and push constants (attn_fwd.comp and
// attn_fwd_cm.comp share them), generated from the lists the shaders include
// (shaders/attn_fwd_spec.inc, attn_fwd_push.inc; the parameter buffer's attn_params.inc is
// mirrored in attn_params.hpp).
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace vkattn {

namespace glsl {
using uint = std::uint32_t;
}  // namespace glsl

// Bindings of set 0, in the shader's order.
enum FwdBinding : std::uint32_t {
  kFwdQ = 0,
  kFwdK,
  kFwdV,
  kFwdO,
  kFwdLse,
  kFwdParams,
  kFwdBias,
  kFwdSlopes,
  kFwdTable,
  kFwdSinks,
  kFwdDocsQ,
  kFwdDocsK,
  kFwdBindingCount,
};

// Values of the SEQ_MODE specialization constant (named for the shaders in shaders/attn_enums.inc;
// attn_enums.hpp checks that the two agree).
enum class SeqMode : std::uint32_t { kDense = 0, kPadded = 1, kVarlen = 2 };

// Specialization constants, one 32-bit field per constant_id, in id order.
struct FwdSpecConstants {
#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC
  bool operator==(const FwdSpecConstants&) const = default;
};

inline constexpr std::size_t kFwdSpecCount = 0
#define VKATTN_SPEC(id, NAME, field, def) +1
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC
    ;
static_assert(sizeof(FwdSpecConstants) == kFwdSpecCount * 4, "spec constants must be packed uint32");

// constant_id -> offset within FwdSpecConstants.
inline std::array<VkSpecializationMapEntry, kFwdSpecCount> fwd_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) \
  {id, static_cast<std::uint32_t>(offsetof(FwdSpecConstants, field)), sizeof(std::uint32_t)},
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC
  }};
}

// The push-constant block, field for field.
struct FwdPushConstants {
  using uint = glsl::uint;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_fwd_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(FwdPushConstants) % 4 == 0 && sizeof(FwdPushConstants) <= 128,
              "push constants must fit the 128-byte minimum limit");

}  // namespace vkattn
