// The tools' building blocks (bench/): the .npy reader/writer (round trips, a header exactly as
// NumPy writes it, other versions, every bad-file case), the benchmark presets and FLOP formula,
// and the SVG chart.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "bench_cases.hpp"
#include "npy.hpp"
#include "svg_chart.hpp"

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

namespace vkattn::bench {
namespace {

TEST(BenchCases, FlopsFollowTheFlashAttentionPapers) {
  BenchCase c;
  c.batch = 2, c.q_heads = 3, c.kv_heads = 3, c.seq_q = c.seq_k = 1024, c.head_dim = 64;
  const double full = 4.0 * 2 * 3 * 1024 * 1024 * 64;
  EXPECT_DOUBLE_EQ(c.flops(), full);
  c.mask = Mask::causal_mask();
  EXPECT_NEAR(c.flops() / full, 0.5, 1e-3);  // (S + 1) / 2S
  c.mask = Mask::window(127, 0);
  EXPECT_NEAR(c.flops() / full, 128.0 / 1024, 1e-2);
  c.mask = Mask{};
  c.pass = Pass::kBwd;
  EXPECT_DOUBLE_EQ(c.flops(), 2.5 * full);
  c.pass = Pass::kFwdBwd;
  EXPECT_DOUBLE_EQ(c.flops(), 3.5 * full);
}

TEST(BenchCases, Presets) {
  const std::vector<BenchCase> fa2 = preset("fa2", false);
  ASSERT_EQ(fa2.size(), 3u * 3 * 2 * 6);  // passes x head dims x causal x S = 512 ... 16k
  for (const BenchCase& c : fa2) {
    EXPECT_EQ(c.batch * c.seq_q, 16384) << c.name();
    EXPECT_EQ(c.q_heads * c.head_dim, 2048) << c.name();
    EXPECT_EQ(c.dtype, DType::kF16);
  }
  const std::vector<BenchCase> decode = preset("decode", false);
  ASSERT_FALSE(decode.empty());
  for (const BenchCase& c : decode) {
    EXPECT_LE(c.seq_q, 8);
    EXPECT_LE(c.seq_k, 32768);
    EXPECT_EQ(c.q_heads, 8 * c.kv_heads) << c.name();
  }
  EXPECT_FALSE(preset("short", true).empty());
  EXPECT_TRUE(preset("nope", true).empty());
}

TEST(BenchCases, Shapes) {
  Result<std::vector<Shape>> shapes = parse_shapes("4x32x4096x64,1x16x16384x128");
  ASSERT_TRUE(shapes) << shapes.status().message();
  ASSERT_EQ(shapes->size(), 2u);
  EXPECT_EQ((*shapes)[0].h, 32);
  EXPECT_EQ((*shapes)[1].s, 16384);
  const std::vector<BenchCase> cases = shape_cases(*shapes);
  ASSERT_EQ(cases.size(), 2u * 2 * 2);  // passes x shapes x causal
  EXPECT_EQ(cases.front().name(), "fwd/f16/nomask/b4_h32x32_sq4096_sk4096_d64");
  EXPECT_EQ(cases.back().name(), "fwdbwd/f16/causal_br/b1_h16x16_sq16384_sk16384_d128");
  EXPECT_EQ(preset("compare", false).size(), 16u);
  // A fifth number is V's (and O's) head dim: in the name, the FLOPs (2 * B * H * S^2 * (Dk + Dv))
  // and the bytes; equal to Dk it is the four-number shape.
  Result<std::vector<Shape>> mixed = parse_shapes("4x16x4096x192x128,1x2x64x32x32");
  ASSERT_TRUE(mixed) << mixed.status().message();
  EXPECT_EQ((*mixed)[0].dv, 128);
  EXPECT_EQ((*mixed)[1].dv, 0);
  const BenchCase c = shape_cases(*mixed).front();
  EXPECT_EQ(c.name(), "fwd/f16/nomask/b4_h16x16_sq4096_sk4096_d192_dv128");
  EXPECT_DOUBLE_EQ(c.flops(), 2.0 * 4 * 16 * 4096.0 * 4096.0 * (192 + 128));
  EXPECT_DOUBLE_EQ(c.kv_bytes(), 4.0 * 16 * 4096 * (192 + 128) * 2);
  EXPECT_EQ(shape_cases(*mixed)[2].name(), "fwd/f16/nomask/b1_h2x2_sq64_sk64_d32");  // [1] is causal
  Result<std::vector<Shape>> same = parse_shapes("1x2x64x32,1x2x64x32x32");  // one shape, one case name
  ASSERT_FALSE(same);
  EXPECT_NE(same.status().message().find("\"1x2x64x32x32\" is given twice"), std::string::npos) << same.status().message();
  for (const char* bad : {"", "4x16x4096", "4x16x4096x64x1x1", "4x16x4096x0", "4x16x4096x64x0", "4x16x-1x64",
                          "4x16xx64", "4x16x4096x64,", "4,16,4096,64", "4x16x4096x64 "}) {
    Result<std::vector<Shape>> r = parse_shapes(bad);
    ASSERT_FALSE(r) << "'" << bad << "'";
    EXPECT_NE(r.status().message().find("is not BxHxSxD"), std::string::npos) << r.status().message();
  }
}

// --decode: six integers per item (B, Hq, Hkv, Sq, Sk, D), Hq a multiple of Hkv; each shape gives
// the decode preset's cases, contiguous and paged, named as the preset names them.
TEST(BenchCases, DecodeShapes) {
  Result<std::vector<DecodeShape>> shapes = parse_decode_shapes("4x32x8x1x8192x128,1x16x2x3x500x64");
  ASSERT_TRUE(shapes) << shapes.status().message();
  ASSERT_EQ(shapes->size(), 2u);
  EXPECT_EQ((*shapes)[0].kv_heads, 8);
  EXPECT_EQ((*shapes)[1].seq_q, 3);
  EXPECT_EQ((*shapes)[1].seq_k, 500);
  const std::vector<BenchCase> cases = decode_cases(*shapes, {0, 16});
  ASSERT_EQ(cases.size(), 4u);  // shapes x (contiguous, paged)
  EXPECT_EQ(cases[0].name(), "fwd/f16/causal_br/b4_h32x8_sq1_sk8192_d128");
  EXPECT_EQ(cases[3].name(), "fwd/f16/causal_br/b1_h16x2_sq3_sk500_d64_paged16");
  EXPECT_DOUBLE_EQ(cases[0].kv_bytes(), 2.0 * 4 * 8 * 8192 * 128 * 2);
  // The preset is the same builder over its own shapes: 2 batches x 4 Sq x 5 Sk, twice.
  EXPECT_EQ(preset("decode", false).size(), 80u);
  EXPECT_EQ(preset("decode", false).front().name(), "fwd/f16/causal_br/b1_h32x4_sq1_sk1024_d128");
  for (const char* bad : {"", "4x32x8x1x8192", "4x32x8x1x8192x128x1", "4x32x0x1x8192x128", "4x32x8x1x8192x128,",
                          "4,32,8,1,8192,128"}) {
    Result<std::vector<DecodeShape>> r = parse_decode_shapes(bad);
    ASSERT_FALSE(r) << "'" << bad << "'";
    EXPECT_NE(r.status().message().find("is not BxHqxHkvxSqxSkxD"), std::string::npos) << r.status().message();
  }
  Result<std::vector<DecodeShape>> odd = parse_decode_shapes("1x32x5x1x1024x128");
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.status().message().find("Hq = 32 is not a multiple of Hkv = 5"), std::string::npos) << odd.status().message();
  // K's elements count Hkv heads: 2^28 keys x D = 256 x 1 head are 2^36 and fit; 2 heads do not.
  EXPECT_TRUE(parse_decode_shapes("1x8x1x1x268435456x256"));
  Result<std::vector<DecodeShape>> big = parse_decode_shapes("1x8x2x1x268435456x256");
  ASSERT_FALSE(big);
  EXPECT_NE(big.status().message().find("elements per tensor"), std::string::npos) << big.status().message();
  Result<std::vector<DecodeShape>> twice = parse_decode_shapes("1x8x1x1x64x64,1x8x1x1x64x64");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.status().message().find("is given twice"), std::string::npos) << twice.status().message();
}

TEST(SvgChart, OneLinePerSeriesWithEscapedNames) {
  const std::string svg =
      svg_line_chart("t<1>", "x", "y", {{"fwd a&b", {{512, 1.0}, {1024, 2.0}, {2048, 2.5}}}, {"bwd", {{512, 0.5}}}});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("fwd a&amp;b"), std::string::npos);
  std::size_t lines = 0;
  for (std::size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(svg.find(">1024</text>"), std::string::npos) << "x ticks at the measured lengths";
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

}  // namespace
}  // namespace vkattn::bench
