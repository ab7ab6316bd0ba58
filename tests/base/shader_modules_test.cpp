// The embedded SPIR-V modules per kernel path against what the build's shader toolchain could
// compile (cmake/VkattnToolchain.cmake): every module of every path it could compile is there and
// is SPIR-V (each was also run through spirv-val when it was built), none of a path it could not.
// With VKATTN_REQUIRE_CURRENT_TOOLCHAIN=1 (.ci/run sets it) the toolchain must also compile
// GL_KHR_cooperative_matrix and GL_NV_cooperative_matrix2 (scripts/current_toolchain.sh provides
// one on Debian 12). No device needed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "base/shader_library.hpp"
#include "vkattn/kernel_path.hpp"

namespace vkattn {
namespace {

const std::set<std::string> kScalar = {"attn_fwd",       "attn_bwd_pre", "attn_bwd_dq",   "attn_bwd_dkdv",
                                       "attn_bwd_dparam", "attn_merge",   "attn_kv_append", "qk_transform",
                                       "row_add"};
const std::set<std::string> kNvCoopmat = {"attn_fwd_cm", "attn_bwd_dq_cm", "attn_bwd_dkdv_cm", "coopmat_layout_probe"};
const std::set<std::string> kKhrCoopmat = {"attn_fwd_cm_khr", "attn_bwd_dq_cm_khr", "attn_bwd_dkdv_cm_khr",
                                           "coopmat_layout_probe_khr"};
const std::set<std::string> kNvCoopmat2 = {"attn_fwd_cm2", "attn_bwd_dq_cm2", "attn_bwd_dkdv_cm2"};

TEST(ShaderModules, EveryPathTheToolchainCompiledIsEmbedded) {
  const ToolchainInfo t = toolchain_info();
  std::map<std::string, std::set<std::string>> by_path;
  for (const ShaderModule& m : shader_modules()) {
    ASSERT_GE(m.spirv.size(), 5u) << m.name;
    EXPECT_EQ(m.spirv[0], 0x07230203u) << m.name << " does not start with the SPIR-V magic number";
    EXPECT_TRUE(by_path[m.path].insert(m.name).second) << m.name << " listed twice";
  }
  for (const auto& [path, names] : by_path) {
    std::string list;
    for (const std::string& n : names) list += " " + n;
    std::printf("path %-11s %zu modules:%s\n", path.c_str(), names.size(), list.c_str());
  }
  std::printf("toolchain: glslang %s; GL_NV_cooperative_matrix %s; GL_KHR_cooperative_matrix %s; "
              "GL_NV_cooperative_matrix2 %s\n",
              t.glslang_version, t.nv_cooperative_matrix ? "yes" : t.nv_cooperative_matrix_reason,
              t.khr_cooperative_matrix ? "yes" : t.khr_cooperative_matrix_reason,
              t.nv_cooperative_matrix2 ? "yes" : t.nv_cooperative_matrix2_reason);
  EXPECT_EQ(by_path["scalar"], kScalar);
  EXPECT_EQ(by_path["nv_coopmat"], t.nv_cooperative_matrix ? kNvCoopmat : std::set<std::string>{});
  EXPECT_EQ(by_path["khr_coopmat"], t.khr_cooperative_matrix ? kKhrCoopmat : std::set<std::string>{});
  const bool cm2 = t.nv_cooperative_matrix2 && t.khr_cooperative_matrix;
  EXPECT_EQ(by_path["nv_coopmat2"], cm2 ? kNvCoopmat2 : std::set<std::string>{});
  for (ShaderId id : {ShaderId::kAttnFwdCm2, ShaderId::kAttnBwdDqCm2, ShaderId::kAttnBwdDkdvCm2}) {
    EXPECT_EQ(shader_spirv(id).empty(), !cm2) << to_string(id);
  }
  by_path.erase("nv_coopmat");
  by_path.erase("khr_coopmat");
  by_path.erase("nv_coopmat2");
  EXPECT_EQ(by_path.size(), 1u) << "a module of an unknown path";
  // A path that is not compiled in has no SPIR-V behind its ids (the registry refuses them).
  for (ShaderId id : {ShaderId::kAttnFwdCm, ShaderId::kAttnBwdDqCm, ShaderId::kAttnBwdDkdvCm, ShaderId::kCoopmatLayoutProbe}) {
    EXPECT_EQ(shader_spirv(id).empty(), !t.nv_cooperative_matrix) << to_string(id);
  }
  for (ShaderId id : {ShaderId::kAttnFwdCmKhr, ShaderId::kAttnBwdDqCmKhr, ShaderId::kAttnBwdDkdvCmKhr,
                      ShaderId::kCoopmatLayoutProbeKhr}) {
    EXPECT_EQ(shader_spirv(id).empty(), !t.khr_cooperative_matrix) << to_string(id);
  }
  EXPECT_EQ(std::string(t.nv_cooperative_matrix_reason).empty(), t.nv_cooperative_matrix);
  EXPECT_EQ(std::string(t.khr_cooperative_matrix_reason).empty(), t.khr_cooperative_matrix);
  EXPECT_EQ(std::string(t.nv_cooperative_matrix2_reason).empty(), t.nv_cooperative_matrix2);
}

TEST(ShaderModules, CurrentToolchainWhereRequired) {
  const char* required = std::getenv("VKATTN_REQUIRE_CURRENT_TOOLCHAIN");
  if (required == nullptr || std::string(required) != "1") {
    GTEST_SKIP() << "VKATTN_REQUIRE_CURRENT_TOOLCHAIN is not 1";
  }
  const ToolchainInfo t = toolchain_info();
  EXPECT_TRUE(t.nv_cooperative_matrix) << t.nv_cooperative_matrix_reason;
  EXPECT_TRUE(t.khr_cooperative_matrix) << t.khr_cooperative_matrix_reason;
  EXPECT_TRUE(t.nv_cooperative_matrix2) << t.nv_cooperative_matrix2_reason;
}

}  // namespace
}  // namespace vkattn
