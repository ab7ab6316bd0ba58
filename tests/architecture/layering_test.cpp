// The engine's layering (engine/CMakeLists.txt, README "Architecture"): each folder of engine/ is
// a layer, and a file may include headers of its own layer and the layers below, never above.
// The device layer and everything up to the context see nothing of the public Context:
// vkattn/context.hpp (and vkattn/vkattn.hpp, which includes it) are reachable only from the
// context and plans layers, directly or through any chain of includes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Lowest first.
const std::vector<std::string> kLayers = {"base",    "device", "pipelines", "kernels", "planning",
                                           "context", "plans",  "capi",      "ring"};
const std::set<std::string> kContextHeaders = {"vkattn/context.hpp", "vkattn/vkattn.hpp"};
constexpr const char* kFirstLayerSeeingContext = "context";

int rank_of(const std::string& layer) {
  const auto it = std::find(kLayers.begin(), kLayers.end(), layer);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

// The layer of an include path or engine-relative file ("planning/problem.hpp" -> "planning").
std::string layer_of(const std::string& path) {
  const auto slash = path.find('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// The includes of a source text, quoted or in angle brackets (engine/ and include/ are on the
// include path, so either form reaches a layer).
std::vector<std::string> includes_of(const std::string& text) {
  static const std::regex include_re(R"re(^\s*#\s*include\s+["<]([^">]+)[">])re");
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, include_re)) out.push_back(m[1]);
  }
  return out;
}

// A file set keyed by include path ("device/device.hpp", "vkattn/context.hpp", "attn_params.inc").
using Sources = std::map<std::string, std::string>;

// `inc` as included from `from`: a bare name ("x.hpp") is the including file's folder's.
std::string resolve(const std::string& from, const std::string& inc) {
  if (inc.find('/') != std::string::npos) return inc;
  const auto slash = from.rfind('/');
  return slash == std::string::npos ? inc : from.substr(0, slash + 1) + inc;
}

// Every violation in `files` (keys are engine-relative paths of the engine's own files; other
// keys are headers they may include).
std::vector<std::string> violations(const Sources& files) {
  std::vector<std::string> out;
  for (const auto& [path, text] : files) {
    const int rank = rank_of(layer_of(path));
    if (rank < 0) continue;  // a public header, a shader list
    // Direct includes: no layer above, and no path that climbs out of a folder.
    for (const std::string& inc : includes_of(text)) {
      if (inc.find("..") != std::string::npos) out.push_back(path + " includes " + inc + " by a relative path");
      const int inc_rank = rank_of(layer_of(resolve(path, inc)));
      if (inc_rank > rank) out.push_back(path + " includes " + inc + " from a higher layer");
    }
    // Transitive: the Context headers only from the context layer up.
    if (rank >= rank_of(kFirstLayerSeeingContext)) continue;
    std::set<std::string> seen;
    std::vector<std::pair<std::string, std::string>> stack = {{path, path}};  // (file, chain)
    while (!stack.empty()) {
      const auto [file, chain] = stack.back();
      stack.pop_back();
      const auto it = files.find(file);
      if (it == files.end()) continue;
      for (const std::string& raw : includes_of(it->second)) {
        const std::string inc = resolve(file, raw);
        const std::string next_chain = chain + " -> " + inc;
        if (kContextHeaders.count(inc) != 0) out.push_back(next_chain + " (below the context layer)");
        if (seen.insert(inc).second) stack.push_back({inc, next_chain});
      }
    }
  }
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Sources load_tree() {
  const fs::path root(VKATTN_SOURCE_DIR);
  Sources files;
  for (const auto& e : fs::recursive_directory_iterator(root / "engine")) {
    const std::string ext = e.path().extension().string();
    if (ext == ".hpp" || ext == ".cpp")
      files[fs::relative(e.path(), root / "engine").generic_string()] = read(e.path());
  }
  for (const auto& e : fs::recursive_directory_iterator(root / "include")) {
    if (e.is_regular_file()) files[fs::relative(e.path(), root / "include").generic_string()] = read(e.path());
  }
  return files;
}

TEST(Layering, EveryEngineFileIsInALayer) {
  const fs::path engine = fs::path(VKATTN_SOURCE_DIR) / "engine";
  for (const auto& e : fs::directory_iterator(engine)) {
    if (e.is_directory()) {
      EXPECT_GE(rank_of(e.path().filename().string()), 0) << e.path() << " is not a layer of kLayers";
    } else {
      EXPECT_EQ(e.path().filename(), "CMakeLists.txt") << e.path() << " belongs in a layer folder";
    }
  }
}

TEST(Layering, NoFileIncludesAHigherLayer) {
  const Sources files = load_tree();
  ASSERT_GT(files.size(), 40u) << "the engine's sources were not found under " << VKATTN_SOURCE_DIR;
  for (const std::string& v : violations(files)) ADD_FAILURE() << v;
}

// The checker itself finds both kinds of violation.
TEST(Layering, CheckerFindsViolations) {
  const Sources upward = {{"device/a.hpp", "#include \"planning/b.hpp\"\n"}, {"planning/b.hpp", ""}};
  ASSERT_EQ(violations(upward).size(), 1u);
  EXPECT_NE(violations(upward)[0].find("higher layer"), std::string::npos);
  const Sources hidden = {{"pipelines/a.hpp", "#include \"vkattn/attention.hpp\"\n"},
                          {"vkattn/attention.hpp", "  #include \"vkattn/context.hpp\"\n"},
                          {"vkattn/context.hpp", ""}};
  ASSERT_EQ(violations(hidden).size(), 1u);
  EXPECT_NE(violations(hidden)[0].find("pipelines/a.hpp -> vkattn/attention.hpp -> vkattn/context.hpp"),
            std::string::npos);
  const Sources fine = {{"plans/a.cpp", "#include \"vkattn/context.hpp\"\n#include \"device/d.hpp\"\n"},
                        {"vkattn/context.hpp", ""}};
  EXPECT_TRUE(violations(fine).empty());
  // Angle brackets, a bare same-folder name in the chain, and a climbing path are all seen.
  const Sources angle = {{"kernels/a.hpp", "#include <planning/b.hpp>\n"}};
  EXPECT_EQ(violations(angle).size(), 1u);
  const Sources bare = {{"device/a.cpp", "#include \"a.hpp\"\n"},
                        {"device/a.hpp", "#include <vkattn/context.hpp>\n"},
                        {"vkattn/context.hpp", ""}};
  ASSERT_EQ(violations(bare).size(), 2u);  // from a.cpp through a.hpp, and from a.hpp itself
  const Sources climbing = {{"device/a.cpp", "#include \"../context/x.hpp\"\n"}};
  ASSERT_EQ(violations(climbing).size(), 1u);
  EXPECT_NE(violations(climbing)[0].find("relative path"), std::string::npos);
}

}  // namespace
