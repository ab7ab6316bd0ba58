// Typed C++ mirrors of qk_transform.comp's interface, generated from the lists the shader declares
// them from: shaders/qk_transform_spec.inc, qk_transform_push.inc and qk_transform_bindings.inc.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_bindings.hpp"

namespace vkattn {

#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
struct QKSpecConstants {
#include "qk_transform_spec.inc"
  bool operator==(const QKSpecConstants&) const = default;
};
#undef VKATTN_SPEC

#define VKATTN_SPEC(id, NAME, field, def) +1
inline constexpr std::size_t kQKSpecCount = 0
#include "qk_transform_spec.inc"
    ;
#undef VKATTN_SPEC
static_assert(sizeof(QKSpecConstants) == kQKSpecCount * 4, "spec constants must be packed uint32");

inline std::array<VkSpecializationMapEntry, kQKSpecCount> qk_transform_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) \
  {id, static_cast<std::uint32_t>(offsetof(QKSpecConstants, field)), sizeof(std::uint32_t)},
#include "qk_transform_spec.inc"
#undef VKATTN_SPEC
  }};
}

struct QKPushConstants {
  using uint = std::uint32_t;
#define VKATTN_PC(T, name) T name = 0;
#include "qk_transform_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(QKPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

// Bindings of qk_transform.comp: kQKX, kQKY, kQKDy, ... kQKBindingCount.
enum QKBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kQK##Name = binding,
#include "qk_transform_bindings.inc"
#undef VKATTN_BUFFER
  kQKBindingCount
};

#define VKATTN_BUFFER(binding, Name, Block, access, member) binding,
static_assert(detail::dense_in_order({
#include "qk_transform_bindings.inc"
              }),
              "shaders/qk_transform_bindings.inc must number its bindings 0, 1, 2... in order");
#undef VKATTN_BUFFER

}  // namespace vkattn
