// Two processes save the same pipeline-cache file concurrently (tests/pipelines/cache_writer.cpp: each
// alternates its real cache with a 256 KiB synthetic cache file unique to it), while this
// process reads the file in a loop: every read must be one whole valid cache file (our header,
// checksum and the driver header), and a context must load the survivor.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "pipelines/pipeline_cache_file.hpp"
#include "pipelines/pipeline_cache_load.hpp"
#include "support/vk_test.hpp"

extern char** environ;

namespace vkattn::test {
namespace {

namespace fs = std::filesystem;

pid_t spawn_writer(const std::string& path, int dim, int saves, const fs::path& sync) {
  std::vector<std::string> args = {VKATTN_CACHE_WRITER, path, std::to_string(dim), std::to_string(saves),
                                   sync.string()};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
  EXPECT_EQ(rc, 0) << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
  return rc == 0 ? pid : -1;
}

class CacheFileRace : public VkTest {};

TEST_F(CacheFileRace, TwoProcessesSavingTheSameFileLeaveOneWholeValidCache) {
  const fs::path dir = fs::temp_directory_path() / ("vkattn-race-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string path = (dir / "pipelines.bin").string();
  const CacheIdentity id = cache_identity(ctx().info());

  const fs::path sync = dir.string() + "-sync";
  fs::remove_all(sync);
  fs::create_directories(sync);
  constexpr int kSaves = 150;
  pid_t writers[2] = {spawn_writer(path, 16, kSaves, sync), spawn_writer(path, 32, kSaves, sync)};
  // A failed ASSERT returns early: the writers still get stopped and reaped, the files removed.
  struct Cleanup {
    pid_t* writers;
    fs::path dir, sync;
    ~Cleanup() {
      for (int w = 0; w < 2; ++w) {
        if (writers[w] <= 0) continue;
        ::kill(writers[w], SIGKILL);
        ::waitpid(writers[w], nullptr, 0);
      }
      std::error_code ec;
      fs::remove_all(dir, ec);
      fs::remove_all(sync, ec);
    }
  } cleanup{writers, dir, sync};
  ASSERT_GT(writers[0], 0);
  ASSERT_GT(writers[1], 0);
  // Both writers have built their pipeline before either saves.
  for (int ms = 0; !(fs::exists(sync / "ready-16") && fs::exists(sync / "ready-32")); ++ms) {
    ASSERT_LT(ms, 60000) << "writers not ready after 60 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::ofstream(sync / "go").put('1');
  int running = 2;
  int reads = 0;
  std::vector<std::uint64_t> seen;  // checksums of the distinct files observed
  while (running > 0) {
    Result<std::vector<std::byte>> raw = read_file(path);
    if (raw.is_ok()) {
      ++reads;
      Result<std::vector<std::byte>> blob = decode_cache_file(raw.value(), id);
      ASSERT_TRUE(blob.is_ok()) << "read " << reads << ": " << blob.status().to_string();
      ASSERT_TRUE(check_driver_blob_header(blob.value(), id).is_ok()) << "read " << reads;
      const std::uint64_t sum = fnv1a64(blob.value());
      if (std::find(seen.begin(), seen.end(), sum) == seen.end()) seen.push_back(sum);
    } else {
      ASSERT_EQ(raw.status().code(), ErrorCode::kNotFound) << raw.status().to_string();
    }
    for (pid_t& w : writers) {
      if (w <= 0) continue;
      int status = 0;
      if (::waitpid(w, &status, WNOHANG) == w) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer exit status " << status;
        w = 0;
        --running;
      }
    }
  }
  EXPECT_GT(reads, 10) << "the reader never overlapped the writers";
  // Distinct files: each writer's synthetic one and the real cache(s) (one on lavapipe, whose
  // cache is its 32-byte header; two where the driver stores the pipelines).
  EXPECT_GE(seen.size(), 3u) << "the reader did not see both writers' files: the writes did not interleave";

  std::unique_ptr<Context> loader = make_context([&] {
    ContextOptions o = test_options();
    o.pipeline_cache.persist = true;
    o.pipeline_cache.path = path;
    return o;
  }());
  ASSERT_NE(loader, nullptr);
  EXPECT_EQ(loader->pipeline_cache_file().state, CacheFileState::kLoaded) << loader->pipeline_cache_file().reason;
  loader.reset();
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(entries, 1) << "temporary files were left beside the cache";
}

}  // namespace
}  // namespace vkattn::test
