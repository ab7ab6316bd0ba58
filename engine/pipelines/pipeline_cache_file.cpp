#include "pipelines/pipeline_cache_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace vkattn {
namespace {

constexpr char kMagic[8] = {'V', 'K', 'A', 'T', 'T', 'N', 'P', 'C'};

void put_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}
void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}
std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

Status reject(const std::string& why) { return Status(ErrorCode::kInvalidArgument, why); }

}  // namespace

std::uint32_t load_u32_le(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

std::uint64_t fnv1a64(std::span<const std::byte> data) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::byte b : data) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<std::byte> encode_cache_file(const CacheIdentity& id, std::span<const std::byte> payload) {
  std::vector<std::byte> out(kCacheHeaderSize + payload.size());
  std::byte* p = out.data();
  std::memcpy(p, kMagic, sizeof(kMagic));
  put_u32(p + 8, kCacheFormatVersion);
  put_u32(p + 12, static_cast<std::uint32_t>(kCacheHeaderSize));
  put_u32(p + 16, static_cast<std::uint32_t>(sizeof(void*)));
  put_u32(p + 20, id.vendor_id);
  put_u32(p + 24, id.device_id);
  put_u32(p + 28, id.driver_version);
  std::memcpy(p + 32, id.uuid, 16);
  put_u64(p + 48, payload.size());
  put_u64(p + 56, fnv1a64(payload));
  if (!payload.empty()) std::memcpy(p + kCacheHeaderSize, payload.data(), payload.size());
  return out;
}

Result<std::vector<std::byte>> decode_cache_file(std::span<const std::byte> file, const CacheIdentity& id) {
  if (file.size() < kCacheHeaderSize) {
    return reject("truncated header: " + std::to_string(file.size()) + " bytes < " + std::to_string(kCacheHeaderSize));
  }
  const std::byte* p = file.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) return reject("bad magic (not a vkattn cache file)");
  const std::uint32_t version = load_u32_le(p + 8);
  if (version != kCacheFormatVersion) {
    return reject("format version " + std::to_string(version) + ", expected " + std::to_string(kCacheFormatVersion));
  }
  if (load_u32_le(p + 12) != kCacheHeaderSize) return reject("header size " + std::to_string(load_u32_le(p + 12)));
  if (load_u32_le(p + 16) != sizeof(void*)) {
    return reject("written by a " + std::to_string(8 * load_u32_le(p + 16)) + "-bit process");
  }
  if (load_u32_le(p + 20) != id.vendor_id || load_u32_le(p + 24) != id.device_id) {
    return reject("written for device " + std::to_string(load_u32_le(p + 20)) + ":" +
                  std::to_string(load_u32_le(p + 24)) + ", this is " + std::to_string(id.vendor_id) + ":" +
                  std::to_string(id.device_id));
  }
  if (load_u32_le(p + 28) != id.driver_version) {
    return reject("written by driver version " + std::to_string(load_u32_le(p + 28)) + ", this is " +
                  std::to_string(id.driver_version));
  }
  if (std::memcmp(p + 32, id.uuid, 16) != 0) return reject("pipelineCacheUUID differs");
  const std::uint64_t payload_size = get_u64(p + 48);
  const std::uint64_t have = file.size() - kCacheHeaderSize;
  if (payload_size != have) {
    return reject("payload is " + std::to_string(have) + " bytes, header says " + std::to_string(payload_size));
  }
  std::span<const std::byte> payload = file.subspan(kCacheHeaderSize);
  if (fnv1a64(payload) != get_u64(p + 56)) return reject("checksum mismatch (corrupted payload)");
  return std::vector<std::byte>(payload.begin(), payload.end());
}

Result<std::vector<std::byte>> read_file(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) return Status(ErrorCode::kNotFound, "no file " + path);
  // A directory, FIFO or device is not a cache file (reading a FIFO would block, a directory throw).
  if (!std::filesystem::is_regular_file(st)) return Status(ErrorCode::kIo, path + " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::kIo, "cannot open " + path + ": " + std::strerror(errno));
  std::vector<char> chars;
  try {
    chars.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    return Status(ErrorCode::kIo, "cannot read " + path + ": " + e.what());
  }
  if (in.bad()) return Status(ErrorCode::kIo, "cannot read " + path);
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

Status write_file_atomically(const std::string& path, std::span<const std::byte> data) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Status(ErrorCode::kIo, "cannot create " + target.parent_path().string() + ": " + ec.message());
  }
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status(ErrorCode::kIo, "cannot create " + tmp + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status(ErrorCode::kIo, "cannot write " + tmp + ": " + err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Status(ErrorCode::kIo, "cannot flush " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status(ErrorCode::kIo, "cannot rename " + tmp + " to " + path + ": " + err);
  }
  return Status::ok();
}

std::string default_cache_path(std::uint32_t vendor_id, std::uint32_t device_id) {
  std::string dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    dir = std::string(xdg) + "/vkattn";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dir = std::string(home) + "/.cache/vkattn";
  } else {
    dir = ".vkattn-cache";
  }
  char name[64];
  std::snprintf(name, sizeof(name), "/pipelines-%04x-%04x.bin", vendor_id, device_id);
  return dir + name;
}

}  // namespace vkattn
