// Helper process of cache_file_race_test: a context persisting to PATH builds the forward
// pipeline of head dim DIM, says so by creating SYNC_DIR/ready-DIM, waits for SYNC_DIR/go (so
// that both writers start saving together), then SAVES times: writes a large synthetic cache
// file of its own (the driver's header, then 256 KiB of bytes unique to DIM) through the same
// atomic writer, and saves the real pipeline cache. The synthetic files make a torn write
// visible: lavapipe's real cache is the 32-byte header alone, the same for both writers.
// Usage: cache_writer PATH DIM SAVES SYNC_DIR. Exit 0 on success; 1 on any error or validation
// message.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pipelines/pipeline_cache_file.hpp"
#include "pipelines/pipeline_cache_load.hpp"
#include "vkattn/vkattn.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s PATH DIM SAVES SYNC_DIR\n", argv[0]);
    return 2;
  }
  std::atomic<int> errors{0};
  vkattn::ContextOptions options;
  options.enable_validation = true;
  options.pipeline_cache.path = argv[1];
  options.log = [&errors](vkattn::LogLevel level, std::string_view message) {
    if (level == vkattn::LogLevel::kError) {
      ++errors;
      std::fprintf(stderr, "cache_writer: %.*s\n", static_cast<int>(message.size()), message.data());
    }
  };
  vkattn::Result<std::unique_ptr<vkattn::Context>> ctx = vkattn::Context::create(options);
  if (!ctx.is_ok()) {
    std::fprintf(stderr, "cache_writer: %s\n", ctx.status().to_string().c_str());
    return 1;
  }
  vkattn::AttentionDesc desc;
  desc.dtype = vkattn::DType::kF32;
  desc.seq_q = desc.seq_k = 16;
  desc.head_dim = std::atoi(argv[2]);
  vkattn::Result<vkattn::ForwardPlan> created = vkattn::ForwardPlan::create(*ctx.value(), desc);
  if (!created.is_ok()) {
    std::fprintf(stderr, "cache_writer: %s\n", created.status().to_string().c_str());
    return 1;
  }
  std::optional<vkattn::ForwardPlan> plan(std::move(created).value());
  const std::filesystem::path sync(argv[4]);
  std::ofstream(sync / (std::string("ready-") + argv[2])).put('1');
  for (int waited_ms = 0; !std::filesystem::exists(sync / "go"); waited_ms += 1) {
    if (waited_ms > 60000) {
      std::fprintf(stderr, "cache_writer: no go after 60 s\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  vkattn::Context& c = *ctx.value();
  const vkattn::CacheIdentity id = vkattn::cache_identity(c.info());
  std::vector<std::byte> synthetic(32 + (256u << 10));
  {
    // The driver's own header (VkPipelineCacheHeaderVersionOne), then the writer's pattern.
    std::uint32_t words[4] = {32, VK_PIPELINE_CACHE_HEADER_VERSION_ONE, id.vendor_id, id.device_id};
    std::memcpy(synthetic.data(), words, sizeof(words));
    std::memcpy(synthetic.data() + 16, id.uuid, 16);
    for (std::size_t i = 32; i < synthetic.size(); ++i) {
      synthetic[i] = static_cast<std::byte>((i * 131u + static_cast<std::size_t>(std::atoi(argv[2]))) & 0xffu);
    }
  }
  const std::vector<std::byte> synthetic_file = vkattn::encode_cache_file(id, synthetic);
  const int saves = std::atoi(argv[3]);
  for (int i = 0; i < saves; ++i) {
    if (vkattn::Status s = vkattn::write_file_atomically(argv[1], synthetic_file); !s.is_ok()) {
      std::fprintf(stderr, "cache_writer: synthetic write %d: %s\n", i, s.to_string().c_str());
      return 1;
    }
    if (vkattn::Status s = ctx.value()->save_pipeline_cache(); !s.is_ok()) {
      std::fprintf(stderr, "cache_writer: save %d: %s\n", i, s.to_string().c_str());
      return 1;
    }
  }
  plan.reset();         // the plan before its context,
  ctx.value().reset();  // messages at device destruction (leaked handles) count too
  return errors.load() == 0 ? 0 : 1;
}
