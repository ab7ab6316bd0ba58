// libFuzzer target: the pipeline-cache loader, on the default device (lavapipe on CI).
//
// Each input goes through create_pipeline_cache_from_file twice:
//   1. as a whole cache file (our 64-byte header, then the driver blob);
//   2. as a driver blob wrapped in a header that is valid for this device, checksum included, so
//      mutations get past our header to check_driver_blob_header and vkCreatePipelineCache.
// Invariants: nothing crashes or trips a sanitizer; the loader always returns a usable cache (it
// falls back to an empty one); a rejected input has a reason; a loaded one is exactly the blob.
//
// Set VKATTN_FUZZ_WRITE_SEEDS=<dir> to write two seeds (a real cache file from building one
// attention pipeline, and its driver blob) before fuzzing; scripts/fuzz.sh does.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>

#include "pipelines/pipeline_cache_file.hpp"
#include "pipelines/pipeline_cache_load.hpp"
#include "vkattn/vkattn.hpp"

namespace {

std::unique_ptr<vkattn::Context> g_context;
vkattn::CacheIdentity g_identity;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "cache_file_fuzz: %s\n", what.c_str());
  std::abort();
}

void write_seed(const std::filesystem::path& path, std::span<const std::byte> data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) die("cannot write seed " + path.string());
}

// Builds one forward pipeline in a persisting context and saves its cache to `dir`.
void write_seeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "real_cache_file").string();
  {
    vkattn::ContextOptions options;
    options.pipeline_cache.path = file;
    vkattn::Result<std::unique_ptr<vkattn::Context>> ctx = vkattn::Context::create(options);
    if (!ctx.is_ok()) die(ctx.status().to_string());
    vkattn::AttentionDesc desc;
    desc.batch = 1;
    desc.q_heads = 1;
    desc.seq_q = desc.seq_k = 16;
    desc.head_dim = 16;
    desc.dtype = vkattn::DType::kF32;
    vkattn::Result<vkattn::ForwardPlan> plan = vkattn::ForwardPlan::create(*ctx.value(), desc);
    if (!plan.is_ok()) die(plan.status().to_string());
  }  // destruction saves the cache file
  vkattn::Result<std::vector<std::byte>> raw = vkattn::read_file(file);
  if (!raw.is_ok() || raw.value().size() <= vkattn::kCacheHeaderSize) die("no cache file was saved");
  write_seed(dir / "real_driver_blob", std::span(raw.value()).subspan(vkattn::kCacheHeaderSize));
}

void check_one(std::span<const std::byte> file, std::span<const std::byte> expected_blob) {
  vkattn::CacheFileStatus status;
  vkattn::Result<VkPipelineCache> cache =
      vkattn::create_pipeline_cache_from_file(g_context->device(), g_identity, file, status);
  if (!cache.is_ok()) die("no cache at all: " + cache.status().to_string());
  if (status.state == vkattn::CacheFileState::kRejected && status.reason.empty()) die("rejected without a reason");
  if (status.state == vkattn::CacheFileState::kLoaded && status.loaded_bytes != expected_blob.size()) {
    die("loaded " + std::to_string(status.loaded_bytes) + " bytes, the blob has " +
        std::to_string(expected_blob.size()));
  }
  std::size_t size = 0;
  if (vkGetPipelineCacheData(g_context->device(), cache.value(), &size, nullptr) != VK_SUCCESS) {
    die("vkGetPipelineCacheData failed on the loaded cache");
  }
  vkDestroyPipelineCache(g_context->device(), cache.value(), nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("VKATTN_FUZZ_WRITE_SEEDS"); dir != nullptr && *dir != '\0') write_seeds(dir);
  vkattn::ContextOptions options;
  options.pipeline_cache.persist = false;
  options.enable_validation = std::getenv("VKATTN_FUZZ_VALIDATION") != nullptr;
  vkattn::Result<std::unique_ptr<vkattn::Context>> ctx = vkattn::Context::create(options);
  if (!ctx.is_ok()) die(ctx.status().to_string());
  g_context = std::move(ctx).value();
  g_identity = vkattn::cache_identity(g_context->info());
  std::atexit([] { g_context.reset(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  std::span<const std::byte> payload;
  if (input.size() >= vkattn::kCacheHeaderSize) payload = input.subspan(vkattn::kCacheHeaderSize);
  check_one(input, payload);
  const std::vector<std::byte> wrapped = vkattn::encode_cache_file(g_identity, input);
  check_one(wrapped, input);
  return 0;
}
