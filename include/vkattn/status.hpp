// vkattn/status.hpp — the one error story: every fallible call returns Status or Result<T>.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace vkattn {

// Coarse class of a failure; the message says which field and value.
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // a parameter, shape, stride or buffer failed validation; nothing recorded
  kUnsupported,      // well formed, but this device or path cannot run it
  kNotFound,         // no physical device matched the selection
  kOutOfMemory,      // VK_ERROR_OUT_OF_HOST_MEMORY / VK_ERROR_OUT_OF_DEVICE_MEMORY
  kDeviceLost,       // VK_ERROR_DEVICE_LOST
  kVulkan,           // any other failing VkResult (see Status::vk_result)
  kIo,               // file system error (pipeline cache file)
  kCommunication,    // ring attention: an MPI call failed, or a peer did not answer within the timeout
};

const char* to_string(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(ErrorCode code, std::string message, VkResult vk_result = VK_SUCCESS)
      : code_(code), vk_result_(vk_result), message_(std::move(message)) {}

  static Status ok() { return {}; }
  // Maps a failing VkResult to its ErrorCode; `what` names the call that failed.
  static Status from_vk(VkResult result, const std::string& what);

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  VkResult vk_result() const { return vk_result_; }
  const std::string& message() const { return message_; }
  // e.g. "invalid_argument: desc.head_dim = 12 (must be a multiple of 8 in [8, 256])"
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  VkResult vk_result_ = VK_SUCCESS;
  std::string message_;
};

// A value or the Status saying why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  // The status: ok when a value is held.
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }

  // The value; on an error they throw std::bad_variant_access (check is_ok() or status() first).
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace vkattn
