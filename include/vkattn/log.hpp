// vkattn/log.hpp — where the engine's warnings go.
#pragma once

#include <functional>
#include <string_view>

namespace vkattn {

enum class LogLevel { kInfo, kWarning, kError };

// Receives every message the engine emits (pipeline-cache file rejected, validation-layer
// output when the context enabled it, ...). Must be thread-safe. Empty: print to stderr.
using LogCallback = std::function<void(LogLevel, std::string_view)>;

}  // namespace vkattn
