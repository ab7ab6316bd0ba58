// Typed C++ mirrors of attn_merge.comp's interface, generated from the lists the shader declares
// them from: shaders/attn_merge_spec.inc, attn_merge_push.inc and attn_merge_bindings.inc.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_bindings.hpp"

namespace vkattn {

#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
struct MergeSpecConstants {
#include "attn_merge_spec.inc"
  bool operator==(const MergeSpecConstants&) const = default;
};
#undef VKATTN_SPEC

#define VKATTN_SPEC(id, NAME, field, def) +1
inline constexpr std::size_t kMergeSpecCount = 0
#include "attn_merge_spec.inc"
    ;
#undef VKATTN_SPEC
static_assert(sizeof(MergeSpecConstants) == kMergeSpecCount * 4, "spec constants must be packed uint32");

inline std::array<VkSpecializationMapEntry, kMergeSpecCount> merge_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) \
  {id, static_cast<std::uint32_t>(offsetof(MergeSpecConstants, field)), sizeof(std::uint32_t)},
#include "attn_merge_spec.inc"
#undef VKATTN_SPEC
  }};
}

struct MergePushConstants {
  using uint = std::uint32_t;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_merge_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(MergePushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

// Bindings of attn_merge.comp: kMergeOParts, kMergeLseParts, kMergeO, kMergeLse, kMergeBindingCount.
enum MergeBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kMerge##Name = binding,
#include "attn_merge_bindings.inc"
#undef VKATTN_BUFFER
  kMergeBindingCount
};

#define VKATTN_BUFFER(binding, Name, Block, access, member) binding,
static_assert(detail::dense_in_order({
#include "attn_merge_bindings.inc"
              }),
              "shaders/attn_merge_bindings.inc must number its bindings 0, 1, 2... in order");
#undef VKATTN_BUFFER

}  // namespace vkattn
