// Internal helpers for propagating Status through the engine.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <type_traits>

#include "vkattn/dtype.hpp"
#include "vkattn/status.hpp"

// Returns the Status of `expr` from the enclosing function if it is not ok.
#define VKATTN_TRY(expr)                              \
  do {                                                \
    ::vkattn::Status vkattn_try_s_ = (expr);          \
    if (!vkattn_try_s_.is_ok()) return vkattn_try_s_; \
  } while (0)

// Returns Status::from_vk if the Vulkan call `call` fails; `what` names it in the message.
#define VKATTN_VK(call, what)                                                             \
  do {                                                                                    \
    const VkResult vkattn_vk_r_ = (call);                                                 \
    if (vkattn_vk_r_ != VK_SUCCESS) return ::vkattn::Status::from_vk(vkattn_vk_r_, what); \
  } while (0)

namespace vkattn {

// A number in an error message ("desc.seq_q = " + num(v)).
inline std::string num(std::int64_t v) { return std::to_string(v); }
// A floating-point value in an error message: the shortest text that reads back as the same value
// ("1e-12", "1.00000001", "nan"), where std::to_string would print "0.000000" or "1.000000".
// A float prints as the float it is ("0.1", not 0.1f's double expansion).
template <typename Real>
std::string num_real(Real v) {
  static_assert(std::is_floating_point_v<Real>);
  char text[48];
  const std::to_chars_result r = std::to_chars(text, text + sizeof text, v);
  return std::string(text, r.ptr);
}

// A dtype in an error message: its name, or the number a caller put in the enum ("99 (not a
// DType)") where to_string would say only "unknown".
inline std::string dtype_text(DType t) {
  const std::string name = to_string(t);
  return name != "unknown" ? name : num(static_cast<std::int64_t>(t)) + " (not a DType)";
}

inline Status invalid(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }
inline Status unsupported(std::string message) { return Status(ErrorCode::kUnsupported, std::move(message)); }

}  // namespace vkattn
