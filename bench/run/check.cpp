#include "run/check.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include "run/args.hpp"  // fail

namespace vkattn::run_tool {

Result<Tolerance> parse_tolerance(const std::string& text) {
  Tolerance t;
  const std::size_t comma = text.find(',');
  const std::string parts[] = {text.substr(0, comma), comma == std::string::npos ? "0" : text.substr(comma + 1)};
  double* into[] = {&t.atol, &t.rtol};
  for (int i = 0; i < 2; ++i) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(parts[i].c_str(), &end);
    if (parts[i].empty() || end != parts[i].c_str() + parts[i].size() || errno != 0 || !std::isfinite(v) || v < 0) {
      return fail("--tol=" + text + ": \"" + parts[i] + "\" is not a finite number >= 0 (--tol=ATOL or ATOL,RTOL)");
    }
    *into[i] = v;
  }
  return t;
}

Result<std::map<std::string, npy::Array>> read_references(const std::string& list) {
  std::map<std::string, npy::Array> checks;
  for (std::size_t start = 0; start <= list.size();) {
    const std::size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return fail("--check: '" + item + "' is not NAME=REF.npy");
    }
    Result<npy::Array> ref = npy::load(item.substr(eq + 1));
    if (!ref) return ref.status();
    if (checks.count(item.substr(0, eq)) != 0) return fail("--check: " + item.substr(0, eq) + " is given twice");
    checks[item.substr(0, eq)] = std::move(ref).value();
    start = end + 1;
  }
  return checks;
}

Status check_references(const std::map<std::string, npy::Array>& checks,
                        const std::map<std::string, npy::Array>& outputs) {
  for (const auto& [name, ref] : checks) {
    const auto it = outputs.find(name);
    if (it == outputs.end()) {
      std::string names;
      for (const auto& [n, unused] : outputs) names += (names.empty() ? "" : ", ") + n;
      return fail("--check: no output named " + name + " (this run writes " + names + ")");
    }
    if (it->second.shape != ref.shape) {
      return fail("--check: " + name + " is " + npy::shape_text(it->second.shape) + ", its reference " +
                  npy::shape_text(ref.shape));
    }
  }
  return Status::ok();
}

int check_outputs(const std::map<std::string, npy::Array>& checks, const std::map<std::string, npy::Array>& outputs,
                  const std::optional<Tolerance>& tol) {
  int failed = 0;
  for (const auto& [name, ref] : checks) {
    const auto it = outputs.find(name);
    const std::vector<float> out = it->second.to_float();
    const std::vector<float> expected = ref.to_float();
    double max_abs = 0.0, max_rel = 0.0;
    std::size_t nan = 0, inf = 0, beyond = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (std::isnan(out[i]) != std::isnan(expected[i])) ++nan, ++beyond;
      if (std::isnan(out[i]) || std::isnan(expected[i]) || out[i] == expected[i]) continue;  // equal infinities too
      const double err = std::fabs(static_cast<double>(out[i]) - expected[i]);
      max_abs = std::max(max_abs, err);
      if (std::isinf(out[i]) || std::isinf(expected[i])) {  // they differ, so the error is infinite
        ++inf, ++beyond;
        max_rel = std::numeric_limits<double>::infinity();
        continue;
      }
      if (expected[i] != 0.0f) max_rel = std::max(max_rel, err / std::fabs(static_cast<double>(expected[i])));
      if (tol && err > tol->atol + tol->rtol * std::fabs(static_cast<double>(expected[i]))) ++beyond;
    }
    std::printf("check %s: max abs error %.3g, max rel error %.3g, %zu NaN mismatches, %zu infinity mismatches",
                name.c_str(), max_abs, max_rel, nan, inf);
    if (tol) std::printf(", %zu beyond --tol (atol %.3g, rtol %.3g)", beyond, tol->atol, tol->rtol);
    std::printf(" (%zu elements)\n", out.size());
    if (tol && beyond != 0) ++failed;
  }
  return failed;
}

}  // namespace vkattn::run_tool
