// Typed C++ mirrors of the attention kernels' specialization constants, generated from the lists
// the shaders declare them from: shaders/attn_feature_spec.inc (the problem: ids 0..31, the same
// in every kernel, forward and backward), attn_fwd_spec.inc and attn_bwd_spec.inc (each pass's
// kernel shape: ids from 32). A plan fills FeatureSpecConstants once and both passes take it.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace vkattn {

// Values of the SEQ_MODE specialization constant (named for the shaders in shaders/attn_enums.inc;
// attn_enums.hpp checks that the two agree).
enum class SeqMode : std::uint32_t { kDense = 0, kPadded = 1, kVarlen = 2 };

// Values of the PARAM specialization constant of attn_bwd_dparam.comp (shaders/attn_enums.inc).
enum class BwdParam : std::uint32_t { kNone = 0, kBias = 1, kTable = 2, kSinks = 3 };

// One 32-bit field per constant of the list, in list order.
#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
struct FeatureSpecConstants {
#include "attn_feature_spec.inc"
  bool operator==(const FeatureSpecConstants&) const = default;
};
struct FwdSpecConstants {
  FeatureSpecConstants features;
#include "attn_fwd_spec.inc"
  bool operator==(const FwdSpecConstants&) const = default;
};
struct BwdSpecConstants {
  FeatureSpecConstants features;
#include "attn_bwd_spec.inc"
  bool operator==(const BwdSpecConstants&) const = default;
};
#undef VKATTN_SPEC

#define VKATTN_SPEC(id, NAME, field, def) +1
inline constexpr std::size_t kFeatureSpecCount = 0
#include "attn_feature_spec.inc"
    ;
inline constexpr std::size_t kFwdSpecCount = kFeatureSpecCount
#include "attn_fwd_spec.inc"
    ;
inline constexpr std::size_t kBwdSpecCount = kFeatureSpecCount
#include "attn_bwd_spec.inc"
    ;
#undef VKATTN_SPEC
static_assert(sizeof(FeatureSpecConstants) == kFeatureSpecCount * 4, "spec constants must be packed uint32");
static_assert(sizeof(FwdSpecConstants) == kFwdSpecCount * 4, "spec constants must be packed uint32");
static_assert(sizeof(BwdSpecConstants) == kBwdSpecCount * 4, "spec constants must be packed uint32");

// The feature ids stay below the pass ids, which start at 32.
#define VKATTN_SPEC(id, NAME, field, def) static_assert(id < 32, #NAME " must have an id below 32");
#include "attn_feature_spec.inc"
#undef VKATTN_SPEC
#define VKATTN_SPEC(id, NAME, field, def) static_assert(id >= 32, #NAME " must have an id from 32");
#include "attn_bwd_spec.inc"
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC

// constant_id -> offset within the pass's struct, for every constant of the pass.
#define VKATTN_FEATURE_ENTRY(Pass, id, field)                                                        \
  {id, static_cast<std::uint32_t>(offsetof(Pass, features) + offsetof(FeatureSpecConstants, field)), \
   sizeof(std::uint32_t)},
#define VKATTN_PASS_ENTRY(Pass, id, field) \
  {id, static_cast<std::uint32_t>(offsetof(Pass, field)), sizeof(std::uint32_t)},

inline std::array<VkSpecializationMapEntry, kFwdSpecCount> fwd_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) VKATTN_FEATURE_ENTRY(FwdSpecConstants, id, field)
#include "attn_feature_spec.inc"
#undef VKATTN_SPEC
#define VKATTN_SPEC(id, NAME, field, def) VKATTN_PASS_ENTRY(FwdSpecConstants, id, field)
#include "attn_fwd_spec.inc"
#undef VKATTN_SPEC
  }};
}

inline std::array<VkSpecializationMapEntry, kBwdSpecCount> bwd_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) VKATTN_FEATURE_ENTRY(BwdSpecConstants, id, field)
#include "attn_feature_spec.inc"
#undef VKATTN_SPEC
#define VKATTN_SPEC(id, NAME, field, def) VKATTN_PASS_ENTRY(BwdSpecConstants, id, field)
#include "attn_bwd_spec.inc"
#undef VKATTN_SPEC
  }};
}
#undef VKATTN_FEATURE_ENTRY
#undef VKATTN_PASS_ENTRY

}  // namespace vkattn
