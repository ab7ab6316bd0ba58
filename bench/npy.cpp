#include "npy.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vkattn::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

Status bad(const std::string& what, const std::string& why) {
  return Status(ErrorCode::kInvalidArgument, what + ": " + why);
}

// The value of `key` in a Python dict literal: the text after "'key':" up to the next
// top-level ',' or '}'.
bool dict_value(const std::string& header, const std::string& key, std::string& out) {
  const std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return false;
  std::size_t p = header.find(':', k);
  if (p == std::string::npos) return false;
  ++p;
  int depth = 0;
  std::size_t end = p;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  out = header.substr(p, end - p + (header[end] == ')' ? 1 : 0));
  const auto first = out.find_first_not_of(' ');
  const auto last = out.find_last_not_of(' ');
  out = first == std::string::npos ? "" : out.substr(first, last - first + 1);
  return true;
}

}  // namespace

std::int64_t Array::numel() const {
  std::int64_t n = 1;
  for (std::int64_t e : shape) n *= e;
  return n;
}

std::vector<float> Array::to_float() const {
  std::vector<float> out(static_cast<std::size_t>(numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (dtype == DType::kF16) {
      std::uint16_t h = 0;
      std::memcpy(&h, data.data() + 2 * i, 2);
      out[i] = half_to_float(h);
    } else if (dtype == DType::kI32) {
      std::int32_t x = 0;
      std::memcpy(&x, data.data() + 4 * i, 4);
      out[i] = static_cast<float>(x);
    } else {
      std::memcpy(&out[i], data.data() + 4 * i, 4);
    }
  }
  return out;
}

Result<Array> parse(const std::vector<std::byte>& bytes, const std::string& what) {
  if (bytes.size() < kMagicSize + 4 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0) {
    return bad(what, "not a .npy file (wrong magic)");
  }
  const auto major = static_cast<unsigned>(bytes[6]);
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<std::size_t>(bytes[8]) | static_cast<std::size_t>(bytes[9]) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad(what, "truncated header");
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<std::size_t>(bytes[8 + static_cast<std::size_t>(i)]) << (8 * i);
    header_start = 12;
  } else {
    return bad(what, "unsupported .npy version " + std::to_string(major));
  }
  if (bytes.size() < header_start + header_len) return bad(what, "truncated header");
  const std::string header(reinterpret_cast<const char*>(bytes.data()) + header_start, header_len);
  std::string descr, fortran, shape_field;
  if (!dict_value(header, "descr", descr) || !dict_value(header, "fortran_order", fortran) ||
      !dict_value(header, "shape", shape_field)) {
    return bad(what, "malformed header '" + header + "'");
  }
  Array a;
  if (descr == "'<f4'") {
    a.dtype = DType::kF32;
  } else if (descr == "'<f2'") {
    a.dtype = DType::kF16;
  } else if (descr == "'<i4'") {
    a.dtype = DType::kI32;
  } else {
    return bad(what, "unsupported dtype " + descr + " (need '<f4', '<f2' or '<i4')");
  }
  if (fortran != "False") return bad(what, "Fortran order is not supported (save a C-contiguous array)");
  if (shape_field.size() < 2 || shape_field.front() != '(' || shape_field.back() != ')') {
    return bad(what, "malformed shape " + shape_field);
  }
  std::stringstream dims(shape_field.substr(1, shape_field.size() - 2));
  std::string dim;
  // The element count, refused before it overflows: no file holds 2^62 bytes of data.
  constexpr std::uint64_t kMaxElements = std::uint64_t{1} << 60;
  std::uint64_t elements = 1;
  while (std::getline(dims, dim, ',')) {
    if (dim.find_first_not_of(' ') == std::string::npos) continue;
    try {
      const long long v = std::stoll(dim);
      if (v < 0) return bad(what, "negative dimension in shape " + shape_field);
      a.shape.push_back(v);
      if (v != 0 && elements > kMaxElements / static_cast<std::uint64_t>(v)) {
        return bad(what, "shape " + shape_field + " has more than 2^60 elements");
      }
      elements *= static_cast<std::uint64_t>(v);
    } catch (...) {
      return bad(what, "malformed shape " + shape_field);
    }
  }
  const std::size_t bytes_needed = static_cast<std::size_t>(elements) * dtype_size(a.dtype);
  const std::size_t data_start = header_start + header_len;
  if (bytes.size() - data_start < bytes_needed) {
    return bad(what, "truncated: shape " + shape_field + " needs " + std::to_string(bytes_needed) + " bytes of data, " +
                         std::to_string(bytes.size() - data_start) + " present");
  }
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start),
                bytes.begin() + static_cast<std::ptrdiff_t>(data_start + bytes_needed));
  return a;
}

Result<Array> load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status(ErrorCode::kInvalidArgument, path + ": is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(ErrorCode::kInvalidArgument, path + ": cannot open");
  std::vector<char> raw;
  try {
    raw.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInvalidArgument, path + ": cannot read (" + e.what() + ")");
  }
  std::vector<std::byte> bytes(raw.size());
  std::memcpy(bytes.data(), raw.data(), raw.size());
  return parse(bytes, path);
}

std::vector<std::byte> serialize(const Array& a) {
  const char* descr = a.dtype == DType::kF16 ? "<f2" : a.dtype == DType::kI32 ? "<i4" : "<f4";
  std::string shape = "(";
  for (std::int64_t e : a.shape) shape += std::to_string(e) + ", ";
  if (a.shape.size() > 1) shape.resize(shape.size() - 2);  // (3,) keeps its comma
  if (a.shape.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t unpadded = 10 + header.size() + 1;  // magic + version + length, header, '\n'
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<std::byte> out(10 + header.size() + a.data.size());
  std::memcpy(out.data(), kMagic, kMagicSize);
  out[6] = std::byte{1};
  out[7] = std::byte{0};
  out[8] = static_cast<std::byte>(header.size() & 0xff);
  out[9] = static_cast<std::byte>(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  if (!a.data.empty()) std::memcpy(out.data() + 10 + header.size(), a.data.data(), a.data.size());
  return out;
}

Status save(const std::string& path, const Array& a) {
  const std::vector<std::byte> bytes = serialize(a);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status(ErrorCode::kInvalidArgument, path + ": cannot write");
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f) {
      std::remove(tmp.c_str());
      return Status(ErrorCode::kInvalidArgument, path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status(ErrorCode::kInvalidArgument, path + ": rename failed");
  }
  return Status::ok();
}

Array from_floats(const std::vector<float>& values, std::vector<std::int64_t> shape) {
  Array a;
  a.dtype = DType::kF32;
  a.shape = std::move(shape);
  a.data.resize(values.size() * 4);
  std::memcpy(a.data.data(), values.data(), a.data.size());
  return a;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string t = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
  return t + ")";
}

}  // namespace vkattn::npy
