#include "run/args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

namespace vkattn::run_tool {
namespace {

constexpr const char* kValueFlags[] = {
    "out",    "layout",        "align",      "window-left", "window-right", "softcap",    "scale",     "path",
    "device", "deterministic", "check",      "storage",     "dropout",      "seed",       "offset",    "q-norm",
    "k-norm", "norm-eps",      "norm-scale", "rope",        "rope-theta",   "rotary-dim", "rope-grid", "tol"};
constexpr const char* kSwitches[] = {"causal", "validation"};

}  // namespace

Status fail(const std::string& message) { return Status(ErrorCode::kInvalidArgument, message); }

Result<Args> parse_args(int argc, char** argv) {
  Args a;
  std::set<std::string> seen;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) return fail("unexpected argument '" + s + "' (flags are --name=value)");
    s = s.substr(2);
    const std::size_t eq = s.find('=');
    const std::string key = s.substr(0, eq);
    bool known = false;
    for (const char* f : kFileFlags) known |= key == f;
    for (const char* f : kValueFlags) known |= key == f;
    bool is_switch = false;
    for (const char* f : kSwitches) is_switch |= key == f;
    if (!known && !is_switch) return fail("unknown flag --" + key);
    if (!seen.insert(key).second) return fail("--" + key + " is given twice");
    if (is_switch) {
      // --causal, --causal=1: on; --causal=0: off (the flag is then absent).
      const std::string v = eq == std::string::npos ? std::string(1, '1') : s.substr(eq + 1);
      if (v != "0" && v != "1") return fail("--" + key + "=" + v + " is not 0 or 1");
      if (v == "1") a.values.insert_or_assign(key, v);
    } else {
      if (eq == std::string::npos) return fail("--" + key + " needs a value (--" + key + "=...)");
      if (eq + 1 == s.size()) return fail("--" + key + "= has an empty value");
      a.values[key] = s.substr(eq + 1);
    }
  }
  for (const char* f : {"q", "k", "v"}) {
    if (!a.has(f)) return fail(std::string("--") + f + "=FILE is required");
  }
  if (a.has("deterministic") && a.get("deterministic") != "0" && a.get("deterministic") != "1") {
    return fail("--deterministic=" + a.get("deterministic") + " is not 0 or 1");
  }
  return a;
}

Result<std::int64_t> integer(const Args& a, const std::string& key) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(a.get(key), &used);
    if (used != a.get(key).size()) throw 0;
    return static_cast<std::int64_t>(v);
  } catch (...) {
    return fail("--" + key + "=" + a.get(key) + " is not an integer");
  }
}

Result<double> number(const Args& a, const std::string& key, double largest, const char* type) {
  const std::string& text = a.get(key);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return fail("--" + key + "=" + text + " is not a number");
  const bool overflowed = errno == ERANGE && std::isinf(v);  // 1e999 overflows both types
  if (overflowed || (std::isfinite(v) && std::abs(v) > largest)) {
    return fail("--" + key + "=" + text + " is outside the " + type + " range");
  }
  return v;
}

Result<float> real(const Args& a, const std::string& key) {
  Result<double> v = number(a, key, std::numeric_limits<float>::max(), "float");
  if (!v) return v.status();
  return static_cast<float>(*v);
}

}  // namespace vkattn::run_tool
