// vkattn-run end to end: .npy inputs written here, the tool run as a subprocess under
// validation, its .npy outputs compared with the fp64 reference; bad files exit non-zero and
// leave the output directory empty.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <iterator>
#include <numeric>
#include <random>
#include <string>

#include "npy.hpp"
#include "support/attention_case.hpp"
#include "support/qk_reference.hpp"

namespace vkattn::test {
namespace {

namespace fs = std::filesystem;

class RunTool : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vkattn_run_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "out");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  void save(const std::string& name, const npy::Array& a) { ASSERT_TRUE(npy::save(file(name), a).is_ok()); }
  int run(const std::string& args) const {
    const std::string cmd = std::string(VKATTN_RUN_BINARY) + " --validation --out=" + file("out") + " " + args + " > " +
                            file("stdout.txt") + " 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string output() const {
    std::ifstream f(file("stdout.txt"));
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  std::vector<float> read(const std::string& name) const {
    Result<npy::Array> a = npy::load((dir_ / "out" / (name + ".npy")).string());
    EXPECT_TRUE(a.is_ok()) << a.status().to_string();
    return a ? a->to_float() : std::vector<float>{};
  }

  fs::path dir_;
};

std::vector<float> random_values(std::size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// [B, H, S, D] dense -> [B, S, H, D] (the bshd file order), and back.
std::vector<float> to_bshd(const std::vector<float>& x, std::int64_t B, std::int64_t H, std::int64_t S, std::int64_t D,
                           bool back = false) {
  std::vector<float> y(x.size());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t d = 0; d < D; ++d) {
          const auto bhsd = static_cast<std::size_t>(((b * H + h) * S + s) * D + d);
          const auto bshd = static_cast<std::size_t>(((b * S + s) * H + h) * D + d);
          (back ? y[bhsd] : y[bshd]) = x[back ? bshd : bhsd];
        }
  return y;
}

TEST_F(RunTool, ForwardAndBackwardInBshdMatchTheReference) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, Hq = 4, Hkv = 2, Sq = 33, Sk = 40, D = 16;
  const auto q = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  const auto k = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  const auto v = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  const auto d_o = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  const auto sinks = random_values(static_cast<std::size_t>(Hq), rng);
  save("q.npy", npy::from_floats(to_bshd(q, B, Hq, Sq, D), {B, Sq, Hq, D}));
  save("k.npy", npy::from_floats(to_bshd(k, B, Hkv, Sk, D), {B, Sk, Hkv, D}));
  save("v.npy", npy::from_floats(to_bshd(v, B, Hkv, Sk, D), {B, Sk, Hkv, D}));
  save("do.npy", npy::from_floats(to_bshd(d_o, B, Hq, Sq, D), {B, Sq, Hq, D}));
  save("sinks.npy", npy::from_floats(sinks, {Hq}));
  ASSERT_EQ(run("--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") + " --do=" + file("do.npy") +
                " --sinks=" + file("sinks.npy") + " --layout=bshd --causal --align=tl --softcap=0.7"),
            0)
      << output();
  EXPECT_NE(output().find("forward: attn_fwd_d16_f32_causal_tl_softcap_sink_"), std::string::npos) << output();
  EXPECT_NE(output().find("forward GPU time: "), std::string::npos) << output();

  RefProblem p;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = D;
  p.mask = kCausalTL;
  p.mod.softcap = 0.7f;
  p.mod.sinks = true;
  p.sinks.assign(sinks.begin(), sinks.end());
  const RefResult ref = reference_forward(p, q, k, v);
  expect_close(to_bshd(read("o"), B, Hq, Sq, D, true), ref.o, output_tolerance(DType::kF32), "o.npy");
  expect_close(read("lse"), ref.lse, lse_tolerance(DType::kF32), "lse.npy");
  const RefGrads g = reference_backward(p, q, k, v, d_o);
  const Tolerance tol = gradient_tolerance(DType::kF32);
  expect_close(to_bshd(read("dq"), B, Hq, Sq, D, true), g.dq, tol, "dq.npy");
  expect_close(to_bshd(read("dk"), B, Hkv, Sk, D, true), g.dk, tol, "dk.npy");
  expect_close(to_bshd(read("dv"), B, Hkv, Sk, D, true), g.dv, tol, "dv.npy");
  expect_close(read("dsinks"), g.dsinks, g.dsinks_terms, param_gradient_tolerance(DType::kF32), "dsinks.npy");
}

// --storage=bf16: f32 files stored as bf16 on the device (rounded to nearest even), outputs written
// back as f32 holding the bf16 values: against the reference on the rounded inputs, with O as
// stored feeding the backward's reference.
TEST_F(RunTool, Bf16StorageFromF32Files) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 1, Hq = 4, Hkv = 1, Sq = 20, Sk = 37, D = 24;
  auto q = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  auto k = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  auto v = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  auto d_o = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  save("q.npy", npy::from_floats(q, {B, Hq, Sq, D}));
  save("k.npy", npy::from_floats(k, {B, Hkv, Sk, D}));
  save("v.npy", npy::from_floats(v, {B, Hkv, Sk, D}));
  save("do.npy", npy::from_floats(d_o, {B, Hq, Sq, D}));
  const std::string inputs =
      "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") + " --do=" + file("do.npy");
  EXPECT_EQ(run(inputs + " --storage=f16"), 1);
  EXPECT_NE(output().find("--storage=f16 is not bf16"), std::string::npos) << output();
  ASSERT_EQ(run(inputs + " --storage=bf16 --causal"), 0) << output();
  EXPECT_NE(output().find("forward: attn_fwd_d24_bf16_causal_br_"), std::string::npos) << output();
  for (auto* x : {&q, &k, &v, &d_o}) round_to_dtype(*x, DType::kBF16);
  RefProblem p;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = D;
  p.mask = kCausalBR;
  const RefResult ref = reference_forward(p, q, k, v);
  const std::vector<float> o = read("o");
  std::vector<float> o_rounded = o;
  round_to_dtype(o_rounded, DType::kBF16);
  EXPECT_EQ(o_rounded, o);  // the file holds bf16 values exactly
  expect_close(o, ref.o, output_tolerance(DType::kBF16), "o.npy");
  expect_close(read("lse"), ref.lse, lse_tolerance(DType::kBF16), "lse.npy");
  const RefGrads g = reference_backward(p, q, k, v, d_o, &o);
  const Tolerance tol = gradient_tolerance(DType::kBF16);
  expect_close(read("dq"), g.dq, g.dq_terms, qk_gradient_tolerance(DType::kBF16), "dq.npy");
  expect_close(read("dk"), g.dk, g.dk_terms, qk_gradient_tolerance(DType::kBF16), "dk.npy");
  expect_close(read("dv"), g.dv, tol, "dv.npy");
}

// --dropout with --seed and --offset: the forward and the backward use the mask of
// vkattn/dropout.hpp for those values (the reference regenerates it), and bad values are refused.
TEST_F(RunTool, DropoutWithSeedAndOffset) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, Hq = 2, Hkv = 1, Sq = 17, Sk = 30, D = 16;
  const auto q = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  const auto k = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  const auto v = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  const auto d_o = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  save("q.npy", npy::from_floats(q, {B, Hq, Sq, D}));
  save("k.npy", npy::from_floats(k, {B, Hkv, Sk, D}));
  save("v.npy", npy::from_floats(v, {B, Hkv, Sk, D}));
  save("do.npy", npy::from_floats(d_o, {B, Hq, Sq, D}));
  const std::string inputs =
      "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") + " --do=" + file("do.npy");
  EXPECT_EQ(run(inputs + " --dropout=1"), 1);
  EXPECT_NE(output().find("desc.dropout.p = 1"), std::string::npos) << output();
  EXPECT_EQ(run(inputs + " --seed=5"), 1);
  EXPECT_NE(output().find("--seed needs --dropout"), std::string::npos) << output();
  EXPECT_EQ(run(inputs + " --dropout=0.3 --offset=-1"), 1);
  EXPECT_NE(output().find("--offset=-1 is not an integer in [0, 4294967295]"), std::string::npos) << output();
  ASSERT_EQ(run(inputs + " --dropout=0.3 --seed=123456789012 --offset=77 --causal"), 0) << output();
  EXPECT_NE(output().find("forward: attn_fwd_d16_f32_causal_br_dropout_"), std::string::npos) << output();
  RefProblem p;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = D;
  p.mask = kCausalBR;
  p.dropout_p = static_cast<double>(0.3f);
  p.dropout_seed = 123456789012ull;
  p.dropout_offset = 77;
  const RefResult ref = reference_forward(p, q, k, v);
  expect_close(read("o"), ref.o, output_tolerance(DType::kF32), "o.npy");
  expect_close(read("lse"), ref.lse, lse_tolerance(DType::kF32), "lse.npy");  // undropped
  const RefGrads g = reference_backward(p, q, k, v, d_o);
  const Tolerance tol = gradient_tolerance(DType::kF32);
  expect_close(read("dq"), g.dq, tol, "dq.npy");
  expect_close(read("dk"), g.dk, tol, "dk.npy");
  expect_close(read("dv"), g.dv, tol, "dv.npy");
}

// --q-norm/--k-norm with weight files and --rope: the forward and the backward (dq, dk and the
// weights' gradients) against the fp64 reference of the transforms and of attention.
TEST_F(RunTool, QKNormAndRopeWithWeightFiles) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 1, Hq = 2, Hkv = 2, S = 24, D = 16;
  const auto q = random_values(static_cast<std::size_t>(B * Hq * S * D), rng);
  const auto k = random_values(static_cast<std::size_t>(B * Hkv * S * D), rng);
  const auto v = random_values(static_cast<std::size_t>(B * Hkv * S * D), rng);
  const auto d_o = random_values(static_cast<std::size_t>(B * Hq * S * D), rng);
  auto qw = random_values(static_cast<std::size_t>(D), rng), kw = random_values(static_cast<std::size_t>(D), rng);
  for (float& w : qw) w = 1.0f + 0.5f * w;
  for (float& w : kw) w = 1.0f + 0.5f * w;
  save("q.npy", npy::from_floats(q, {B, Hq, S, D}));
  save("k.npy", npy::from_floats(k, {B, Hkv, S, D}));
  save("v.npy", npy::from_floats(v, {B, Hkv, S, D}));
  save("do.npy", npy::from_floats(d_o, {B, Hq, S, D}));
  save("qw.npy", npy::from_floats(qw, {D}));
  save("kw.npy", npy::from_floats(kw, {D}));
  const std::string inputs = "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") +
                             " --do=" + file("do.npy") + " --causal";
  EXPECT_EQ(run(inputs + " --q-norm=rms"), 1);
  EXPECT_NE(output().find("q_norm_weight is missing"), std::string::npos) << output();
  EXPECT_EQ(run(inputs + " --rope=quarter"), 1);
  EXPECT_NE(output().find("--rope=quarter is not half or pairs"), std::string::npos) << output();
  ASSERT_EQ(run(inputs + " --q-norm=rms --k-norm=rms --norm-eps=1e-5 --q-norm-weight=" + file("qw.npy") +
                " --k-norm-weight=" + file("kw.npy") + " --rope=half --rope-theta=1000"),
            0)
      << output();
  EXPECT_NE(output().find("_qknorm_rms_rope_half"), std::string::npos) << output();
  RefQK qr, kr;
  for (RefQK* r : {&qr, &kr}) {
    r->d.dtype = DType::kF32, r->d.batch = B, r->d.heads = Hq, r->d.seq = S, r->d.head_dim = D;
    r->d.norm = {QKNormKind::kRMS, 1e-5f, 1.0f};
    r->d.rope.style = RopeStyle::kRotateHalf;
    r->d.rope.theta = 1000.0;
  }
  qr.weight.assign(qw.begin(), qw.end());
  kr.weight.assign(kw.begin(), kw.end());
  const std::vector<double> qt = qr.forward({q.begin(), q.end()}), kt = kr.forward({k.begin(), k.end()});
  RefProblem p;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = S, p.seq_k = S, p.head_dim = D;
  p.mask = kCausalBR;
  const RefResult ref = reference_forward(p, qt, kt, std::vector<double>(v.begin(), v.end()));
  expect_close(read("o"), ref.o, output_tolerance(DType::kF32), "o.npy");
  const RefGrads g = reference_backward(p, std::vector<float>(qt.begin(), qt.end()), std::vector<float>(kt.begin(), kt.end()), v, d_o);
  std::vector<double> dq, dk, dqw, dkw;
  qr.backward({q.begin(), q.end()}, g.dq, dq, dqw);
  kr.backward({k.begin(), k.end()}, g.dk, dk, dkw);
  const Tolerance tol = gradient_tolerance(DType::kF32);
  expect_close(read("dq"), dq, tol, "dq.npy");
  expect_close(read("dk"), dk, tol, "dk.npy");
  expect_close(read("dv"), g.dv, tol, "dv.npy");
  expect_close(read("dq_norm_weight"), dqw, tol, "dq_norm_weight.npy");
  expect_close(read("dk_norm_weight"), dkw, tol, "dk_norm_weight.npy");
}

TEST_F(RunTool, BadFilesExitNonZeroAndWriteNothing) {
  std::mt19937_64 rng(test_seed());
  const auto x = random_values(2 * 2 * 8 * 8, rng);
  save("q.npy", npy::from_floats(x, {2, 2, 8, 8}));
  save("k.npy", npy::from_floats(x, {2, 2, 8, 8}));
  save("v.npy", npy::from_floats(x, {2, 2, 8, 8}));
  save("v_short.npy", npy::from_floats(std::vector<float>(x.begin(), x.begin() + 2 * 2 * 7 * 8), {2, 2, 7, 8}));
  save("do_3d.npy", npy::from_floats(std::vector<float>(x.begin(), x.begin() + 2 * 8 * 8), {2, 8, 8}));
  {
    std::ofstream(file("garbage.npy")) << "this is not a numpy file";
    npy::Array f64 = npy::from_floats(x, {2, 2, 8, 8});
    std::vector<std::byte> bytes = npy::serialize(f64);
    std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    std::string fortran = s, wrong = s;
    fortran.replace(fortran.find("False"), 5, "True ");
    wrong.replace(wrong.find("<f4"), 3, "<f8");
    std::ofstream(file("fortran.npy"), std::ios::binary) << fortran;
    std::ofstream(file("f8.npy"), std::ios::binary) << wrong;
    std::ofstream(file("truncated.npy"), std::ios::binary) << s.substr(0, s.size() - 100);
    // A shape whose byte count wraps around 2^64 (4 x (2^62 + 1) = 4) over 4 bytes of data.
    npy::Array one;
    one.dtype = DType::kI32;
    one.shape = {1};
    one.data.resize(4);
    const std::vector<std::byte> one_bytes = npy::serialize(one);
    std::string wrap(reinterpret_cast<const char*>(one_bytes.data()), one_bytes.size());
    const std::string huge = "(4611686018427387905,)";
    wrap.replace(wrap.find("(1,)"), 4, huge);
    wrap.erase(wrap.find('\n') - (huge.size() - 4), huge.size() - 4);  // the header keeps its length
    std::ofstream(file("wrap.npy"), std::ios::binary) << wrap;
  }
  const std::string qk = "--q=" + file("q.npy") + " --k=" + file("k.npy");
  const struct {
    std::string args, message;
  } cases[] = {
      {qk + " --v=" + file("garbage.npy"), "garbage.npy: not a .npy file (wrong magic)"},
      {qk + " --v=" + file("fortran.npy"), "Fortran order is not supported"},
      {qk + " --v=" + file("f8.npy"), "unsupported dtype '<f8'"},
      {qk + " --v=" + file("truncated.npy"), "truncated: shape (2, 2, 8, 8) needs 1024 bytes of data"},
      {qk + " --v=" + file("v_short.npy"), "v.shape[2] (Sk) = 7, expected 8"},
      {qk + " --v=" + file("v.npy") + " --do=" + file("do_3d.npy"), "--do: shape (2, 8, 8) has rank 3, expected 4"},
      {qk + " --v=" + file("v.npy") + " --window-left=-2", "desc.mask.window_left = -2"},
      {qk + " --v=" + file("v.npy") + " --layout=xyz", "--layout=xyz is not bhsd"},
      // fp32 inputs: refused on every device (lavapipe: no coopmat; the H100: needs f16), by the plan.
      {qk + " --v=" + file("v.npy") + " --path=coopmat", "desc.path = coopmat: "},
      {qk + " --v=" + file("missing.npy"), "missing.npy: cannot open"},
      {qk + " --v=" + dir_.string(), ": is a directory"},
      {qk + " --v=" + file("v.npy") + " --seq-lens-q=" + file("wrap.npy"), "has more than 2^60 elements"},
      {qk, "--v=FILE is required"},
      {"--q= --k=" + file("k.npy") + " --v=" + file("v.npy"), "--q= has an empty value"},
      // Flags: switches take 0 or 1, a flag comes once, options need the feature they tune.
      {qk + " --v=" + file("v.npy") + " --causal=2", "--causal=2 is not 0 or 1"},
      {qk + " --v=" + file("v.npy") + " --causal --causal=0", "--causal is given twice"},
      {qk + " --v=" + file("v.npy") + " --deterministic=yes", "--deterministic=yes is not 0 or 1"},
      {qk + " --v=" + file("v.npy") + " --rope-theta=500", "--rope-theta needs --rope"},
      {qk + " --v=" + file("v.npy") + " --norm-eps=1e-5", "--norm-eps needs --q-norm or --k-norm"},
      {qk + " --v=" + file("v.npy") + " --softcap=1e39", "--softcap=1e39 is outside the float range"},
      {qk + " --v=" + file("v.npy") + " --scale=1e999", "--scale=1e999 is outside the float range"},
      {qk + " --v=" + file("v.npy") + " --scale=1e38", "desc.scale = 1e+38 (|scale| * log2(e) must be at most 2^64"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    EXPECT_NE(run(c.args), 0) << output();
    EXPECT_NE(output().find(c.message), std::string::npos) << output();
    EXPECT_EQ(output().find("validation:"), std::string::npos) << output();  // error paths are clean too
    EXPECT_TRUE(fs::is_empty(dir_ / "out")) << "outputs were written";
  }
}

npy::Array from_ints(const std::vector<std::int32_t>& values, std::vector<std::int64_t> shape) {
  npy::Array a;
  a.dtype = DType::kI32;
  a.shape = std::move(shape);
  a.data.resize(values.size() * 4);
  std::memcpy(a.data.data(), values.data(), a.data.size());
  return a;
}

// A paged cache through the tool: vLLM's [num_blocks, block_size, Hkv, D] pools (--layout=bshd),
// a shuffled block table with unused entries of -1, lengths that are not multiples of the block
// size, three new tokens per sequence under a bottom-right causal mask (chunked prefill), against
// the fp64 reference on the dense keys; unused pool rows are NaN, so a wrong block shows. Then
// the tables' bad input: the plan's message names the entry, and nothing is written.
TEST_F(RunTool, PagedCacheMatchesTheReference) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t B = 2, Hq = 4, Hkv = 2, Sq = 3, D = 16, BS = 8, max_blocks = 5, num_blocks = 13;
  const std::vector<std::int64_t> lens = {37, 20};
  const std::int64_t Sk = 37;  // the longest length: the tool's Sk
  const auto q = random_values(static_cast<std::size_t>(B * Hq * Sq * D), rng);
  const auto k = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);  // dense [B, Hkv, Sk, D]
  const auto v = random_values(static_cast<std::size_t>(B * Hkv * Sk * D), rng);
  const auto at = [](std::int64_t i) { return static_cast<std::size_t>(i); };
  std::vector<std::int32_t> ids(at(num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::int32_t> table(at(B * max_blocks), -1);
  std::vector<float> k_pool(at(num_blocks * BS * Hkv * D), std::nanf("")), v_pool = k_pool;
  std::size_t next = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t n = 0; n < (lens[at(b)] + BS - 1) / BS; ++n) table[at(b * max_blocks + n)] = ids[next++];
    for (std::int64_t j = 0; j < lens[at(b)]; ++j) {
      const std::int64_t blk = table[at(b * max_blocks + j / BS)], r = j % BS;
      for (std::int64_t h = 0; h < Hkv; ++h) {
        for (std::int64_t d = 0; d < D; ++d) {
          k_pool[at(((blk * BS + r) * Hkv + h) * D + d)] = k[at(((b * Hkv + h) * Sk + j) * D + d)];
          v_pool[at(((blk * BS + r) * Hkv + h) * D + d)] = v[at(((b * Hkv + h) * Sk + j) * D + d)];
        }
      }
    }
  }
  save("q.npy", npy::from_floats(to_bshd(q, B, Hq, Sq, D), {B, Sq, Hq, D}));
  save("k.npy", npy::from_floats(k_pool, {num_blocks, BS, Hkv, D}));
  save("v.npy", npy::from_floats(v_pool, {num_blocks, BS, Hkv, D}));
  save("table.npy", from_ints(table, {B, max_blocks}));
  save("lens.npy", from_ints({37, 20}, {B}));
  const std::string args = "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") +
                           " --layout=bshd --causal --block-table=" + file("table.npy");
  ASSERT_EQ(run(args + " --cache-lens=" + file("lens.npy")), 0) << output();
  EXPECT_NE(output().find("_paged8_"), std::string::npos) << output();

  RefProblem p;
  p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.seq_q = Sq, p.seq_k = Sk, p.head_dim = D;
  p.mask = kCausalBR;
  p.len_k = lens;
  const RefResult ref = reference_forward(p, q, k, v);
  expect_close(to_bshd(read("o"), B, Hq, Sq, D, true), ref.o, output_tolerance(DType::kF32), "o.npy");
  expect_close(read("lse"), ref.lse, lse_tolerance(DType::kF32), "lse.npy");

  std::vector<std::int32_t> bad = table;
  bad[at(max_blocks + 1)] = static_cast<std::int32_t>(num_blocks);  // sequence 1's second block: past the pool
  save("bad_table.npy", from_ints(bad, {B, max_blocks}));
  save("long_lens.npy", from_ints({37, 41}, {B}));  // 41 keys need a sixth block: past the table's 5
  save("neg_lens.npy", from_ints({-3, 20}, {B}));
  save("three_lens.npy", from_ints({37, 20, 5}, {3}));
  save("do.npy", npy::from_floats(to_bshd(q, B, Hq, Sq, D), {B, Sq, Hq, D}));
  const struct {
    std::string args, message;
  } refused[] = {
      {"--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") + " --layout=bshd --block-table=" +
           file("bad_table.npy") + " --cache-lens=" + file("lens.npy"),
       "desc.paged_kv.block_table[6] (sequence 1, block 1) = 13"},
      {args + " --cache-lens=" + file("long_lens.npy"), "--cache-lens[1] = 41 needs 6 blocks of 8; --block-table has 5 columns"},
      {args + " --cache-lens=" + file("neg_lens.npy"), "desc.paged_kv.cache_lens[0] = -3"},
      {args + " --cache-lens=" + file("three_lens.npy"), "--block-table (2, 5) and --cache-lens (3) need B = 2 rows"},
      {args, "--block-table and --cache-lens go together"},
      {args + " --cache-lens=" + file("lens.npy") + " --do=" + file("do.npy"), "the paged cache is forward only"},
      {"--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") + " --layout=sbhd --block-table=" +
           file("table.npy") + " --cache-lens=" + file("lens.npy"),
       "--layout=sbhd with --block-table: the pools are bhsd or bshd"},
  };
  for (const auto& r : refused) {
    SCOPED_TRACE(r.args);
    fs::remove_all(dir_ / "out");
    EXPECT_NE(run(r.args), 0) << output();
    EXPECT_NE(output().find(r.message), std::string::npos) << output();
    EXPECT_EQ(output().find("validation:"), std::string::npos) << output();
    EXPECT_FALSE(fs::exists(dir_ / "out" / "o.npy")) << "outputs were written";
  }
}

// --causal=0 leaves the mask off and --causal=1 turns it on, as --causal does.
TEST_F(RunTool, SwitchesTakeZeroOrOne) {
  std::mt19937_64 rng(test_seed());
  const auto x = random_values(1 * 2 * 8 * 8, rng);
  for (const char* n : {"q.npy", "k.npy", "v.npy"}) save(n, npy::from_floats(x, {1, 2, 8, 8}));
  const std::string qkv = "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy");
  ASSERT_EQ(run(qkv + " --causal=0"), 0) << output();
  EXPECT_NE(output().find("forward: attn_fwd_d8_f32_nomask_"), std::string::npos) << output();
  ASSERT_EQ(run(qkv + " --causal=1"), 0) << output();
  EXPECT_NE(output().find("forward: attn_fwd_d8_f32_causal_br_"), std::string::npos) << output();
  // Any other value is a usage error (exit 2), whichever switch it is.
  EXPECT_EQ(run(qkv + " --causal=2"), 2) << output();
  EXPECT_EQ(run(qkv + " --deterministic=2"), 2) << output();
}

// --rope-theta is read as the API's double: a base just above 1 is taken (a float would round it
// to 1, which the plan refuses), 1 itself is refused by the plan.
TEST_F(RunTool, RopeThetaKeepsDoublePrecision) {
  std::mt19937_64 rng(test_seed());
  const auto x = random_values(1 * 2 * 8 * 8, rng);
  for (const char* n : {"q.npy", "k.npy", "v.npy"}) save(n, npy::from_floats(x, {1, 2, 8, 8}));
  const std::string qkv = "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy") + " --rope=half";
  EXPECT_EQ(run(qkv + " --rope-theta=1.00000001"), 0) << output();
  EXPECT_NE(run(qkv + " --rope-theta=1"), 0) << output();
  EXPECT_NE(output().find("desc.qk.rope.theta = 1 (must"), std::string::npos) << output();
}

// --out joins paths properly and the tool says where it writes; --check compares outputs with
// references: a run's own outputs give zero errors, a perturbed reference its perturbation, and a
// reference of another shape (or an unknown or repeated name) exits 1 with nothing written.
TEST_F(RunTool, SaysWhereItWritesAndChecksAgainstReferences) {
  std::mt19937_64 rng(test_seed());
  const auto x = random_values(1 * 2 * 8 * 16, rng);
  save("q.npy", npy::from_floats(x, {1, 2, 8, 16}));
  save("k.npy", npy::from_floats(x, {1, 2, 8, 16}));
  save("v.npy", npy::from_floats(x, {1, 2, 8, 16}));
  const std::string qkv = "--q=" + file("q.npy") + " --k=" + file("k.npy") + " --v=" + file("v.npy");
  const std::string slash_dir = file("out") + "/";
  const std::string cmd = std::string(VKATTN_RUN_BINARY) + " --validation --out=" + slash_dir + " " + qkv + " > " +
                          file("stdout.txt") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << output();
  EXPECT_NE(output().find("writing into " + file("out")), std::string::npos) << output();
  EXPECT_NE(output().find("wrote " + file("out") + "/o.npy"), std::string::npos) << output();
  EXPECT_EQ(output().find("//"), std::string::npos) << output();

  std::vector<float> o = read("o");
  save("o_ref.npy", npy::from_floats(o, {1, 2, 8, 16}));
  o[5] += 0.25f;
  save("o_off.npy", npy::from_floats(o, {1, 2, 8, 16}));
  save("lse_wrong.npy", npy::from_floats(std::vector<float>(16, 0.0f), {1, 2, 8, 1}));
  ASSERT_EQ(run(qkv + " --check=o=" + file("o_ref.npy")), 0) << output();
  EXPECT_NE(output().find("check o: max abs error 0, max rel error 0, 0 NaN mismatches, 0 infinity mismatches "
                          "(256 elements)"),
            std::string::npos)
      << output();
  ASSERT_EQ(run(qkv + " --check=o=" + file("o_off.npy")), 0) << output();
  EXPECT_NE(output().find("check o: max abs error 0.25,"), std::string::npos) << output();
  // --tol makes a difference fail the run (exit 4, the outputs written): 0.25 is beyond 0.1 and
  // within 0.3; a -inf where the output is finite (an LSE row) and a NaN are beyond any tolerance.
  fs::remove_all(dir_ / "out");
  EXPECT_EQ(run(qkv + " --check=o=" + file("o_off.npy") + " --tol=0.1"), 4) << output();
  EXPECT_NE(output().find("1 beyond --tol (atol 0.1, rtol 0)"), std::string::npos) << output();
  EXPECT_NE(output().find("vkattn-run: 1 checked output beyond --tol=0.1"), std::string::npos) << output();
  EXPECT_TRUE(fs::exists(dir_ / "out" / "o.npy"));
  EXPECT_EQ(run(qkv + " --check=o=" + file("o_off.npy") + " --tol=0.3"), 0) << output();
  EXPECT_EQ(run(qkv + " --check=o=" + file("o_off.npy") + " --tol=0,1e9"), 0) << output();  // relative only
  std::vector<float> lse = read("lse");
  lse[3] = -std::numeric_limits<float>::infinity();
  lse[4] = std::numeric_limits<float>::quiet_NaN();
  save("lse_inf.npy", npy::from_floats(lse, {1, 2, 8}));
  EXPECT_EQ(run(qkv + " --check=lse=" + file("lse_inf.npy") + " --tol=1e30,1e30"), 4) << output();
  EXPECT_NE(output().find("1 NaN mismatches, 1 infinity mismatches, 2 beyond --tol"), std::string::npos) << output();
  // --tol is refused (exit 1, nothing written) without --check or with a value that is not a
  // finite number >= 0.
  for (const std::string& bad : {std::string(" --tol=0.1"), " --check=o=" + file("o_ref.npy") + " --tol=abc",
                                 " --check=o=" + file("o_ref.npy") + " --tol=-1",
                                 " --check=o=" + file("o_ref.npy") + " --tol=0.1,"}) {
    fs::remove_all(dir_ / "out");
    EXPECT_EQ(run(qkv + bad), 1) << bad << "\n" << output();
    EXPECT_NE(output().find("--tol="), std::string::npos) << output();
    EXPECT_FALSE(fs::exists(dir_ / "out" / "o.npy")) << bad << ": outputs were written";
  }
  // A reference of another shape, a name this run does not write, or a name given twice: exit 1
  // before anything is written.
  const struct {
    std::string check, message;
  } refused[] = {
      {"lse=" + file("lse_wrong.npy"), "--check: lse is (1, 2, 8), its reference (1, 2, 8, 1)"},
      {"dq=" + file("o_ref.npy"), "--check: no output named dq (this run writes lse, o)"},
      {"o=" + file("o_ref.npy") + ",o=" + file("o_off.npy"), "--check: o is given twice"},
  };
  for (const auto& r : refused) {
    fs::remove_all(dir_ / "out");
    EXPECT_EQ(run(qkv + " --check=" + r.check), 1) << output();
    EXPECT_NE(output().find(r.message), std::string::npos) << output();
    EXPECT_FALSE(fs::exists(dir_ / "out" / "o.npy")) << r.check << ": outputs were written";
  }
  EXPECT_NE(run(qkv + " --check=o"), 0) << output();
  EXPECT_NE(output().find("--check: 'o' is not NAME=REF.npy"), std::string::npos) << output();
}

}  // namespace
}  // namespace vkattn::test
