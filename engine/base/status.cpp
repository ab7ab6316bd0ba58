#include "vkattn/status.hpp"

#include <string>

namespace vkattn {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kOutOfMemory:
      return "out_of_memory";
    case ErrorCode::kDeviceLost:
      return "device_lost";
    case ErrorCode::kVulkan:
      return "vulkan_error";
    case ErrorCode::kIo:
      return "io_error";
    case ErrorCode::kCommunication:
      return "communication_error";
  }
  return "unknown";
}

Status Status::from_vk(VkResult result, const std::string& what) {
  ErrorCode code = ErrorCode::kVulkan;
  if (result == VK_ERROR_OUT_OF_HOST_MEMORY || result == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
    code = ErrorCode::kOutOfMemory;
  } else if (result == VK_ERROR_DEVICE_LOST) {
    code = ErrorCode::kDeviceLost;
  }
  return Status(code, what + " failed with VkResult " + std::to_string(static_cast<int>(result)), result);
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(vkattn::to_string(code_)) + ": " + message_;
}

}  // namespace vkattn
