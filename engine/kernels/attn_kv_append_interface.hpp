// Typed C++ mirrors of attn_kv_append.comp's interface, generated from the lists the shader
// declares them from: shaders/attn_kv_append_spec.inc, attn_kv_append_push.inc and
// attn_kv_append_bindings.inc.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernels/attn_bindings.hpp"

namespace vkattn {

#define VKATTN_SPEC(id, NAME, field, def) std::uint32_t field = def;
struct AppendSpecConstants {
#include "attn_kv_append_spec.inc"
};
#undef VKATTN_SPEC

#define VKATTN_SPEC(id, NAME, field, def) +1
inline constexpr std::size_t kAppendSpecCount = 0
#include "attn_kv_append_spec.inc"
    ;
#undef VKATTN_SPEC
static_assert(sizeof(AppendSpecConstants) == kAppendSpecCount * 4, "spec constants must be packed uint32");

inline std::array<VkSpecializationMapEntry, kAppendSpecCount> append_spec_map() {
  return {{
#define VKATTN_SPEC(id, NAME, field, def) \
  {id, static_cast<std::uint32_t>(offsetof(AppendSpecConstants, field)), sizeof(std::uint32_t)},
#include "attn_kv_append_spec.inc"
#undef VKATTN_SPEC
  }};
}

struct AppendPushConstants {
  using uint = std::uint32_t;
#define VKATTN_PC(T, name) T name = 0;
#include "attn_kv_append_push.inc"
#undef VKATTN_PC
};
static_assert(sizeof(AppendPushConstants) <= 128, "push constants must fit the 128-byte minimum limit");

// Bindings of attn_kv_append.comp: kAppendKNew ... kAppendCacheLens, kAppendBindingCount.
enum AppendBinding : std::uint32_t {
#define VKATTN_BUFFER(binding, Name, Block, access, member) kAppend##Name = binding,
#include "attn_kv_append_bindings.inc"
#undef VKATTN_BUFFER
  kAppendBindingCount
};

#define VKATTN_BUFFER(binding, Name, Block, access, member) binding,
static_assert(detail::dense_in_order({
#include "attn_kv_append_bindings.inc"
              }),
              "shaders/attn_kv_append_bindings.inc must number its bindings 0, 1, 2... in order");
#undef VKATTN_BUFFER

}  // namespace vkattn
