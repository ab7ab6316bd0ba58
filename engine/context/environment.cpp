#include "context/environment.hpp"

#include <cctype>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

#include "base/vk_util.hpp"

namespace vkattn {
namespace {

// The variable's value; nullopt when unset or empty.
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string allowed_list(std::initializer_list<std::uint32_t> allowed) {
  std::string list;
  for (std::uint32_t v : allowed) {
    list += (list.empty() ? "" : v == *(allowed.end() - 1) ? " or " : ", ") + std::to_string(v);
  }
  return list;
}

bool is_allowed(std::uint32_t v, std::initializer_list<std::uint32_t> allowed) {
  for (std::uint32_t a : allowed) {
    if (v == a) return true;
  }
  return false;
}

// A tile override: its variable, its field in PlanOverrides and in the planner's Overrides, and
// the values it may take.
struct TileVariable {
  const char* variable;
  const char* field;
  std::uint32_t PlanOverrides::*member;
  TileOverride Overrides::*planned;
  std::initializer_list<std::uint32_t> allowed;
};

const TileVariable kTileVariables[] = {
    {"VKATTN_CM_BLOCK_Q", "cm_block_q", &PlanOverrides::cm_block_q, &Overrides::cm_block_q, {64, 128, 256}},
    {"VKATTN_CM_BLOCK_K", "cm_block_k", &PlanOverrides::cm_block_k, &Overrides::cm_block_k, {16, 32, 64}},
    {"VKATTN_CM_SUBGROUPS", "cm_subgroups", &PlanOverrides::cm_subgroups, &Overrides::cm_subgroups, {4, 8}},
    {"VKATTN_CM_BWD_ROWS", "cm_bwd_rows", &PlanOverrides::cm_bwd_rows, &Overrides::cm_bwd_rows, {64, 128}},
    {"VKATTN_CM_BWD_BLOCK_COLS",
     "cm_bwd_block_cols",
     &PlanOverrides::cm_bwd_block_cols,
     &Overrides::cm_bwd_block_cols,
     {16, 32, 64}},
    {"VKATTN_CM_NO_PREFETCH", "cm_no_prefetch", &PlanOverrides::cm_no_prefetch, &Overrides::cm_no_prefetch, {1}},
    {"VKATTN_CM_STAGGER", "cm_stagger", &PlanOverrides::cm_stagger, &Overrides::cm_stagger, {1}},
    {"VKATTN_SPLITS", "splits", &PlanOverrides::splits, &Overrides::splits, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}},
    {"VKATTN_CM_KHR", "cm_khr", &PlanOverrides::cm_khr, &Overrides::cm_khr, {1}},
    {"VKATTN_CM2", "cm2", &PlanOverrides::cm2, &Overrides::cm2, {1}},
};

bool taken(const ContextOptions& o, const char* variable) {
  const std::string prefix = std::string(variable) + "=";
  for (const std::string& e : o.from_environment) {
    if (e.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

Result<ContextOptions> apply_environment(ContextOptions o, EnvironmentFor mode) {
  o.from_environment.clear();
  const bool owned = mode == EnvironmentFor::kOwnedDevice;
  const auto take = [&](const char* name, const std::string& value) {
    o.from_environment.push_back(std::string(name) + "=" + value);
  };
  if (auto v = env("VKATTN_DEVICE"); v && owned && o.device.empty()) {
    o.device = *v;
    take("VKATTN_DEVICE", *v);
  }
  if (auto v = env("VKATTN_VALIDATION"); v && owned) {
    if (*v != "0" && *v != "1") return invalid("VKATTN_VALIDATION = \"" + *v + "\" is not 0 or 1");
    if (*v == "1" && !o.enable_validation) {
      o.enable_validation = true;
      take("VKATTN_VALIDATION", *v);
    }
  }
  const auto is_off = [](const std::string& v) {  // "off" in any case
    return v.size() == 3 && std::tolower(static_cast<unsigned char>(v[0])) == 'o' &&
           std::tolower(static_cast<unsigned char>(v[1])) == 'f' && std::tolower(static_cast<unsigned char>(v[2])) == 'f';
  };
  if (auto v = env("VKATTN_PIPELINE_CACHE");
      v && o.pipeline_cache.persist && (is_off(*v) || o.pipeline_cache.path.empty())) {
    if (is_off(*v)) {
      o.pipeline_cache.persist = false;
    } else {
      o.pipeline_cache.path = *v;
    }
    take("VKATTN_PIPELINE_CACHE", *v);
  }

  PlanOverrides& po = o.overrides;
  if (!is_kernel_path(po.path)) {
    return invalid("options.overrides.path = " + std::to_string(static_cast<std::uint32_t>(po.path)) +
                   " is not a KernelPath value");
  }
  // A variable is checked even where a field set in code wins over it: a malformed value is
  // always an error.
  if (auto v = env("VKATTN_PATH")) {
    const std::optional<KernelPath> path = kernel_path_from_string(*v);
    if (!path) return invalid("VKATTN_PATH = \"" + *v + "\" is not " + kKernelPathNames);
    if (po.path == KernelPath::kAuto) {
      po.path = *path;
      take("VKATTN_PATH", *v);
    }
  }
  for (const TileVariable& t : kTileVariables) {
    std::uint32_t& value = po.*(t.member);
    if (value != 0) {
      if (!is_allowed(value, t.allowed)) {
        return invalid(std::string("options.overrides.") + t.field + " = " + std::to_string(value) + " is not " +
                       allowed_list(t.allowed));
      }
    }
    const std::optional<std::string> v = env(t.variable);
    if (!v) continue;
    std::uint32_t parsed = 0;
    for (std::uint32_t a : t.allowed) {
      if (*v == std::to_string(a)) parsed = a;
    }
    if (parsed == 0) {
      return invalid(std::string(t.variable) + " = \"" + *v + "\" is not " + allowed_list(t.allowed));
    }
    if (value != 0) continue;  // set in code: wins over the (well-formed) variable
    value = parsed;
    take(t.variable, *v);
  }
  return o;
}

Overrides plan_overrides(const ContextOptions& o) {
  const auto source = [&](const char* variable, const char* field) {
    return taken(o, variable) ? std::string(variable) : std::string("options.overrides.") + field;
  };
  Overrides r;
  r.path = o.overrides.path;
  r.path_source = source("VKATTN_PATH", "path");
  for (const TileVariable& t : kTileVariables) {
    r.*(t.planned) = TileOverride{o.overrides.*(t.member), source(t.variable, t.field)};
  }
  return r;
}

}  // namespace vkattn
