// The on-disk pipeline cache: header validation (pure), and what a context does with good,
// corrupted, truncated and foreign files.
#include "pipelines/pipeline_cache_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "pipelines/pipeline_cache_load.hpp"
#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

namespace fs = std::filesystem;

CacheIdentity some_identity() {
  CacheIdentity id;
  id.vendor_id = 0x10de;
  id.device_id = 0x2330;
  id.driver_version = 42;
  for (int i = 0; i < 16; ++i) id.uuid[i] = static_cast<std::uint8_t>(i * 7);
  return id;
}

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) out.push_back(static_cast<std::byte>(x));
  return out;
}

TEST(CacheFileFormat, RoundTrip) {
  const auto payload = bytes({1, 2, 3, 4, 5, 250});
  const auto file = encode_cache_file(some_identity(), payload);
  ASSERT_EQ(file.size(), kCacheHeaderSize + payload.size());
  Result<std::vector<std::byte>> back = decode_cache_file(file, some_identity());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back.value(), payload);
}

TEST(CacheFileFormat, RejectsEveryHeaderMismatch) {
  const auto payload = bytes({9, 8, 7});
  const auto good = encode_cache_file(some_identity(), payload);
  struct Case {
    const char* what;
    std::size_t offset;  // byte flipped
    const char* reason;
  };
  const Case cases[] = {{"magic", 0, "magic"},        {"version", 8, "version"},
                        {"pointer size", 16, "bit"},  {"vendor", 20, "device"},
                        {"device", 24, "device"},     {"driver", 28, "driver"},
                        {"uuid", 40, "UUID"},         {"payload size", 48, "payload"},
                        {"checksum", 56, "checksum"}, {"payload byte", kCacheHeaderSize + 1, "checksum"}};
  for (const Case& c : cases) {
    auto bad = good;
    bad[c.offset] ^= std::byte{0x5a};
    Result<std::vector<std::byte>> r = decode_cache_file(bad, some_identity());
    ASSERT_FALSE(r.is_ok()) << c.what;
    EXPECT_NE(r.status().message().find(c.reason), std::string::npos) << c.what << ": " << r.status().message();
  }
}

TEST(CacheFileFormat, RejectsTruncatedFiles) {
  const auto good = encode_cache_file(some_identity(), bytes({1, 2, 3, 4}));
  for (std::size_t n : {std::size_t{0}, std::size_t{10}, kCacheHeaderSize - 1, good.size() - 1}) {
    std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(decode_cache_file(cut, some_identity()).is_ok()) << n << " bytes";
  }
}

TEST(CacheFileFormat, AtomicWriteLeavesNoTemporaryFiles) {
  const fs::path dir = fs::temp_directory_path() / ("vkattn-atomic-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string path = (dir / "sub" / "cache.bin").string();
  ASSERT_TRUE(write_file_atomically(path, bytes({1, 2, 3})).is_ok());
  ASSERT_TRUE(write_file_atomically(path, bytes({4, 5})).is_ok());
  Result<std::vector<std::byte>> back = read_file(path);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), bytes({4, 5}));
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir / "sub")) entries += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(entries, 1) << "a temporary file was left behind";
  fs::remove_all(dir);
}

TEST(CacheFileFormat, DefaultPathFollowsXdgCacheHome) {
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(default_cache_path(0x10de, 0x2330), "/tmp/xdg-test/vkattn/pipelines-10de-2330.bin");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(default_cache_path(1, 2), "/home/someone/.cache/vkattn/pipelines-0001-0002.bin");
}

// Contexts with a cache file in a fresh directory.
class PipelineCachePersistence : public VkTest {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vkattn-cache-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "pipelines.bin").string();
    VkTest::SetUp();
    if (HasFatalFailure()) return;
  }
  void TearDown() override {
    VkTest::TearDown();
    fs::remove_all(dir_);
  }
  ContextOptions persisted() const {
    ContextOptions o = test_options();
    o.pipeline_cache.persist = true;
    o.pipeline_cache.path = path_;
    return o;
  }
  // Builds one pipeline and runs it, so the driver cache has content.
  void build_a_pipeline(Context& c) {
    std::mt19937_64 rng(test_seed());
    CaseShape shape{1, 1, 1, 8, 8, 16, DType::kF32, kNoMask, Layout::kBHSD, true};
    Result<AttentionCase> a = AttentionCase::create(c, shape, rng);
    ASSERT_TRUE(a.is_ok());
    ASSERT_TRUE(attention_forward(c, a->tensors()).is_ok());
  }
  static CacheIdentity identity_of(const Context& c) { return cache_identity(c.info()); }
  void expect_valid_file(const Context& c) {
    Result<std::vector<std::byte>> raw = read_file(path_);
    ASSERT_TRUE(raw.is_ok()) << raw.status().to_string();
    EXPECT_TRUE(decode_cache_file(raw.value(), identity_of(c)).is_ok());
  }
  // Writes a file, then a context must reject it, warn, and replace it with a valid one.
  void expect_rejected_and_replaced(const std::vector<std::byte>& content, const std::string& reason_part) {
    ASSERT_TRUE(write_file_atomically(path_, content).is_ok());
    std::unique_ptr<Context> c = make_context(persisted());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->pipeline_cache_file().state, CacheFileState::kRejected);
    EXPECT_NE(c->pipeline_cache_file().reason.find(reason_part), std::string::npos) << c->pipeline_cache_file().reason;
    bool warned = false;
    for (const std::string& w : log_->warnings()) warned = warned || w.find(path_) != std::string::npos;
    EXPECT_TRUE(warned) << "no warning names the rejected file";
    const CacheIdentity id = identity_of(*c);
    c.reset();  // saves
    Result<std::vector<std::byte>> raw = read_file(path_);
    ASSERT_TRUE(raw.is_ok());
    EXPECT_TRUE(decode_cache_file(raw.value(), id).is_ok()) << "the bad file was not replaced";
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(PipelineCachePersistence, SecondContextLoadsTheFileAndHandsItToTheDriver) {
  {
    std::unique_ptr<Context> first = make_context(persisted());
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->pipeline_cache_file().state, CacheFileState::kAbsent);
    build_a_pipeline(*first);
  }  // destruction saves
  ASSERT_TRUE(fs::exists(path_));
  const auto file_size = fs::file_size(path_);
  std::unique_ptr<Context> second = make_context(persisted());
  ASSERT_NE(second, nullptr);
  const CacheFileStatus& st = second->pipeline_cache_file();
  EXPECT_EQ(st.state, CacheFileState::kLoaded) << st.reason;
  EXPECT_EQ(st.path, path_);
  EXPECT_EQ(st.loaded_bytes + kCacheHeaderSize, file_size) << "the whole payload goes to vkCreatePipelineCache";
  EXPECT_GT(st.loaded_bytes, 0u);
  build_a_pipeline(*second);
  expect_valid_file(*second);
}

TEST_F(PipelineCachePersistence, CorruptedFileIsIgnoredAndRewritten) {
  auto file = encode_cache_file(identity_of(ctx()), bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  file.back() ^= std::byte{1};
  expect_rejected_and_replaced(file, "checksum");
}

TEST_F(PipelineCachePersistence, TruncatedFileIsIgnoredAndRewritten) {
  auto file = encode_cache_file(identity_of(ctx()), bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  file.resize(file.size() - 3);
  expect_rejected_and_replaced(file, "payload");
}

TEST_F(PipelineCachePersistence, ForeignDeviceFileIsIgnoredAndRewritten) {
  CacheIdentity other = identity_of(ctx());
  other.device_id ^= 0xffff;
  expect_rejected_and_replaced(encode_cache_file(other, bytes({1, 2, 3})), "device");
}

TEST_F(PipelineCachePersistence, GarbageFileIsIgnoredAndRewritten) {
  expect_rejected_and_replaced(bytes({'n', 'o', 't', ' ', 'a', ' ', 'c', 'a', 'c', 'h', 'e'}), "truncated");
}

// A cache path that is a directory or a FIFO is not read (reading threw, or blocked for a FIFO):
// the context starts with an empty cache and a warning, and saving later fails with a warning only.
TEST_F(PipelineCachePersistence, PathThatIsNotARegularFileIsIgnored) {
  fs::create_directories(path_);
  {
    std::unique_ptr<Context> c = make_context(persisted());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->pipeline_cache_file().state, CacheFileState::kRejected);
    EXPECT_NE(c->pipeline_cache_file().reason.find("is not a regular file"), std::string::npos)
        << c->pipeline_cache_file().reason;
    build_a_pipeline(*c);
  }
  fs::remove_all(path_);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  std::unique_ptr<Context> c = make_context(persisted());  // returns: a FIFO is never opened
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->pipeline_cache_file().state, CacheFileState::kRejected);
}

TEST_F(PipelineCachePersistence, DisabledWritesNothing) {
  ContextOptions o = persisted();
  o.pipeline_cache.persist = false;
  {
    std::unique_ptr<Context> c = make_context(o);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->pipeline_cache_file().state, CacheFileState::kDisabled);
    build_a_pipeline(*c);
    EXPECT_TRUE(c->save_pipeline_cache().is_ok());
  }
  EXPECT_FALSE(fs::exists(path_));
}

}  // namespace
}  // namespace vkattn::test
