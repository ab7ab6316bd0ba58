// The .npy reader/writer of the tools (bench/npy.*): round trips, a header exactly as NumPy
// writes it, other versions, and every bad-file case with its message.
#include "npy.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace vkattn::npy {
namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// A file as NumPy 1.x writes np.arange(6, dtype='<f4').reshape(2, 3): version 1.0, header padded
// with spaces to a 64-byte boundary and ended by '\n'.
std::vector<std::byte> numpy_file() {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  file += header;
  for (int i = 0; i < 6; ++i) {
    const float x = static_cast<float>(i);
    file.append(reinterpret_cast<const char*>(&x), 4);
  }
  return bytes_of(file);
}

void expect_error(const std::vector<std::byte>& bytes, const std::string& text) {
  Result<Array> a = parse(bytes, "x.npy");
  ASSERT_FALSE(a.is_ok()) << "expected an error containing " << text;
  EXPECT_NE(a.status().message().find(text), std::string::npos) << a.status().message();
  EXPECT_EQ(a.status().message().rfind("x.npy: ", 0), 0u) << "the message names the file";
}

TEST(Npy, ReadsWhatNumpyWrites) {
  Result<Array> a = parse(numpy_file(), "arange.npy");
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a->to_float(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
}

TEST(Npy, WritesWhatNumpyWrites) {
  Array a = from_floats({0, 1, 2, 3, 4, 5}, {2, 3});
  EXPECT_EQ(serialize(a), numpy_file());
}

TEST(Npy, RoundTripsEveryDtypeAndRank) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kI32}) {
    for (const std::vector<std::int64_t>& shape : {std::vector<std::int64_t>{7}, {2, 3, 4, 5}, {0, 4}, {}}) {
      Array a;
      a.dtype = dtype;
      a.shape = shape;
      a.data.resize(static_cast<std::size_t>(a.numel()) * dtype_size(dtype));
      for (std::size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<std::byte>(i * 7 + 3);
      const std::vector<std::byte> file = serialize(a);
      EXPECT_EQ((file.size() - a.data.size()) % 64, 0u) << "data starts on a 64-byte boundary";
      Result<Array> b = parse(file, "t.npy");
      ASSERT_TRUE(b.is_ok()) << b.status().to_string();
      EXPECT_EQ(b->dtype, dtype);
      EXPECT_EQ(b->shape, shape);
      EXPECT_EQ(b->data, a.data);
    }
  }
}

TEST(Npy, ReadsVersionTwoHeaders) {
  std::vector<std::byte> v1 = numpy_file();
  std::vector<std::byte> v2(v1.begin(), v1.begin() + 8);
  v2[6] = std::byte{2};
  const std::size_t header_len = static_cast<std::size_t>(v1[8]) | static_cast<std::size_t>(v1[9]) << 8;
  for (int i = 0; i < 4; ++i) v2.push_back(static_cast<std::byte>((header_len >> (8 * i)) & 0xff));
  v2.insert(v2.end(), v1.begin() + 10, v1.end());
  Result<Array> a = parse(v2, "v2.npy");
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
}

TEST(Npy, BadFiles) {
  const std::vector<std::byte> good = numpy_file();
  std::string s(reinterpret_cast<const char*>(good.data()), good.size());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = s;
    t.replace(t.find(from), from.size(), to);
    return bytes_of(t);
  };
  expect_error(bytes_of("PK\x03\x04 not an npy file at all"), "wrong magic");
  expect_error({}, "wrong magic");
  expect_error(with("'<f4'", "'<f8'"), "unsupported dtype '<f8'");
  expect_error(with("'<f4'", "'>f4'"), "unsupported dtype '>f4'");
  expect_error(with("'<f4'", "'|u1'"), "unsupported dtype '|u1'");
  expect_error(with("False", "True "), "Fortran order is not supported");
  expect_error(with("'shape'", "'shapx'"), "malformed header");
  expect_error(with("(2, 3)", "(2, x)"), "malformed shape");
  std::vector<std::byte> truncated(good.begin(), good.end() - 5);
  expect_error(truncated, "truncated: shape (2, 3) needs 24 bytes of data, 19 present");
  std::vector<std::byte> short_header(good.begin(), good.begin() + 40);
  expect_error(short_header, "truncated header");
  std::vector<std::byte> v9 = good;
  v9[6] = std::byte{9};
  expect_error(v9, "unsupported .npy version 9");
}

}  // namespace
}  // namespace vkattn::npy
