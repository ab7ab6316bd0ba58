// Typed C++ mirrors of row_add.comp's interface, generated from the lists the shader
// declares them from: shaders/row_add_spec.inc, row_add_push.inc and
// row_add_bindings.inc.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_bindings.hpp"

namespace vkattn {

#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
struct RowAddSpecConstants {
#include "row_add_spec.inc"
};
#undef VKATTN_SPEC

#define VKATTN_SPEC(id, NAME, field, def) +1
inline constexpr std::size_t kRowAddSpecCount = 0
#include "row_add_spec.inc"
    ;
#undef VKATTN_SPEC
static_assert(sizeof(RowAddSpecConstants) == kRowAddSpecCount * 4, "spec constants must be packed uint32");

inline std::array<VkSpecializationMapEntry, kRowAddSpecCount> row_add_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) \
  {id, static_cast<std::uint32_t>(offsetof(RowAddSpecConstants, field)), sizeof(std::uint32_t)},
#include "row_add_spec.inc"
#undef VKATTN_SPEC
  }};
}

struct RowAddPushConstants {
  using uint = std::uint32_t;
#define VKATTN_PC(T, name) T name = 0;
#include "row_add_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(RowAddPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

// Bindings of row_add.comp: kRowAddSrc, kRowAddDst, kRowAddBindingCount.
enum RowAddBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kRowAdd##Name = binding,
#include "row_add_bindings.inc"
#undef VKATTN_BUFFER
  kRowAddBindingCount
};

#define VKATTN_BUFFER(binding, Name, Block, access, member) binding,
static_assert(detail::dense_in_order({
#include "row_add_bindings.inc"
              }),
              "shaders/row_add_bindings.inc must number its bindings 0, 1, 2... in order");
#undef VKATTN_BUFFER

}  // namespace vkattn
