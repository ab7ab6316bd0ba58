// Ring attention over MPI (vkattn/ring.hpp), run by CTest under mpirun with 2, 3 and 4 ranks,
// each rank with its own lavapipe context under validation: every rank's O, LSE, dQ, dK and dV
// against the fp64 reference over the gathered sequence (causal with both shardings and not,
// GQA, fp32 and fp16, a window, ALiBi, sequence lengths the ranks do not divide, a BSHD layout);
// descs and tensors that disagree across ranks refused on every rank with one message. With
// --dead-rank, the last rank exits after creating the ring and the others must report a timeout
// (tests/ring/dead_rank.sh counts them).
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>

#include "support/attention_case.hpp"
#include "support/reference.hpp"
#include "support/tolerances.hpp"
#include "support/vk_test.hpp"
#include "vkattn/ring.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}
std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

// The same seed on every rank: rank 0's.
std::uint64_t shared_seed() {
  std::uint64_t s = test_seed();
  MPI_Bcast(&s, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  return s;
}

std::vector<float> random_values(std::size_t n, DType dt, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  round_to_dtype(v, dt);
  return v;
}

// Rows of `pieces` (global positions) of a dense [B, H, S, D] array, in shard order.
std::vector<float> shard_rows(const std::vector<float>& full, std::int64_t BH, std::int64_t S, std::int64_t D,
                              const std::vector<ShardPiece>& pieces) {
  std::int64_t len = 0;
  for (const ShardPiece& p : pieces) len += p.length;
  std::vector<float> out(at(BH * len * D));
  for (std::int64_t bh = 0; bh < BH; ++bh) {
    for (const ShardPiece& p : pieces) {
      for (std::int64_t s = 0; s < p.length; ++s) {
        for (std::int64_t d = 0; d < D; ++d) {
          out[at((bh * len + p.local_start + s) * D + d)] = full[at((bh * S + p.global_start + s) * D + d)];
        }
      }
    }
  }
  return out;
}
template <class T>
std::vector<double> shard_rows_d(const std::vector<T>& full, std::int64_t BH, std::int64_t S, std::int64_t D,
                                 const std::vector<ShardPiece>& pieces) {
  std::vector<float> f(full.begin(), full.end());
  std::vector<float> r = shard_rows(f, BH, S, D, pieces);
  return {r.begin(), r.end()};
}

struct RingCase {
  std::int64_t batch, q_heads, kv_heads, seq_total, head_dim;
  DType dtype;
  Mask mask;
  RingSharding sharding;
  Layout layout = Layout::kBHSD;
  bool alibi = false;
  bool sinks = false;  // and their gradient (RingBackwardTensors::dsinks)

  std::string name() const {
    std::ostringstream s;
    s << "b" << batch << "_h" << q_heads << "x" << kv_heads << "_s" << seq_total << "_d" << head_dim << "_"
      << to_string(dtype) << (mask.causal ? "_causal" : mask.has_window() ? "_window" : "_nomask")
      << (sharding == RingSharding::kZigzag ? "_zigzag" : "_contiguous") << (layout == Layout::kBSHD ? "_bshd" : "")
      << (alibi ? "_alibi" : "") << (sinks ? "_sinks" : "");
    return s.str();
  }
};

class RingTest : public VkTest, public ::testing::WithParamInterface<RingCase> {};

// A device tensor of a dense [B, H, S, D] host array stored in `layout`.
Tensor device(Context& ctx, const std::vector<float>& dense, std::int64_t B, std::int64_t H, std::int64_t S,
              std::int64_t D, DType dt, Layout layout, TensorView& view) {
  Tensor t = Tensor::create(ctx, dt, {B * H * S * D}).value();
  view = TensorView::attention(t.buffer(), t.size_bytes(), dt, layout, B, H, S, D);
  std::vector<float> mem(dense.size());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t d = 0; d < D; ++d)
          mem[at(b * view.strides[0] + h * view.strides[1] + s * view.strides[2] + d)] =
              dense[at(((b * H + h) * S + s) * D + d)];
  EXPECT_TRUE(t.upload(mem).is_ok());
  return t;
}
std::vector<float> dense_of(const Tensor& t, const TensorView& v) {
  const std::vector<float> mem = t.download().value();
  const std::int64_t B = v.shape[0], H = v.shape[1], S = v.shape[2], D = v.shape[3];
  std::vector<float> out(at(B * H * S * D));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t d = 0; d < D; ++d)
          out[at(((b * H + h) * S + s) * D + d)] =
              mem[at(b * v.strides[0] + h * v.strides[1] + s * v.strides[2] + d)];
  return out;
}

TEST_P(RingTest, ForwardAndBackwardMatchTheWholeSequence) {
  const RingCase& rc = GetParam();
  const int P = world_size(), me = world_rank();
  const std::uint64_t seed = shared_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed) + " rank " + std::to_string(me) + " of " + std::to_string(P));
  std::mt19937_64 rng(seed);
  const std::int64_t B = rc.batch, Hq = rc.q_heads, Hkv = rc.kv_heads, S = rc.seq_total, D = rc.head_dim;
  const std::vector<float> q = random_values(at(B * Hq * S * D), rc.dtype, rng);
  const std::vector<float> k = random_values(at(B * Hkv * S * D), rc.dtype, rng);
  const std::vector<float> v = random_values(at(B * Hkv * S * D), rc.dtype, rng);
  const std::vector<float> d_o = random_values(at(B * Hq * S * D), rc.dtype, rng);
  std::vector<float> slopes(at(Hq));
  for (std::int64_t h = 0; h < Hq; ++h) slopes[at(h)] = 0.05f * static_cast<float>(h + 1);
  const std::vector<float> sink_logits = random_values(at(Hq), F32, rng);

  RingDesc desc;
  AttentionDesc& a = desc.attention;
  a.dtype = rc.dtype, a.batch = B, a.q_heads = Hq, a.kv_heads = Hkv, a.head_dim = D;
  a.mask = rc.mask;
  if (rc.alibi) a.score_mod.alibi = Alibi::kPerHead;
  a.score_mod.sinks = rc.sinks;
  desc.seq_total = S;
  desc.sharding = rc.sharding;
  desc.timeout = std::chrono::milliseconds(120000);
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, desc);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  const std::vector<ShardPiece> pieces = ring->pieces();
  const std::int64_t L = ring_shard_length(rc.sharding, S, P, me);

  RingForwardTensors ft;
  Tensor qt = device(ctx(), shard_rows(q, B * Hq, S, D, pieces), B, Hq, L, D, rc.dtype, rc.layout, ft.q);
  Tensor kt = device(ctx(), shard_rows(k, B * Hkv, S, D, pieces), B, Hkv, L, D, rc.dtype, rc.layout, ft.k);
  Tensor vt = device(ctx(), shard_rows(v, B * Hkv, S, D, pieces), B, Hkv, L, D, rc.dtype, rc.layout, ft.v);
  Tensor ot = device(ctx(), std::vector<float>(at(B * Hq * L * D), NAN), B, Hq, L, D, rc.dtype, rc.layout, ft.o);
  Tensor lse = Tensor::create(ctx(), F32, {B, Hq, L}).value();
  ASSERT_TRUE(lse.fill(NAN).is_ok());
  ft.lse = lse.view();
  std::optional<Tensor> slopes_dev;
  if (rc.alibi) {
    slopes_dev.emplace(Tensor::create(ctx(), F32, {Hq}).value());
    ASSERT_TRUE(slopes_dev->upload(slopes).is_ok());
    ft.alibi_slopes = slopes_dev->view();
  }
  std::optional<Tensor> sinks_dev;
  if (rc.sinks) {
    sinks_dev.emplace(Tensor::create(ctx(), F32, {Hq}).value());
    ASSERT_TRUE(sinks_dev->upload(sink_logits).is_ok());
    ft.sinks = sinks_dev->view();
  }
  Status s = ring->forward(ft);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(ring->last_timings().size(), static_cast<std::size_t>(P));
  // A second call reuses the first's plans (no setup time) and gives the same O, bit for bit.
  double setup = 0;
  for (const RingStepTiming& t : ring->last_timings()) setup += t.setup_s;
  EXPECT_GT(setup, 0.0);
  const std::vector<std::byte> o_first = ot.download_bytes().value();
  s = ring->forward(ft);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  for (const RingStepTiming& t : ring->last_timings()) EXPECT_EQ(t.setup_s, 0.0);
  EXPECT_TRUE(ot.download_bytes().value() == o_first);

  RefProblem ref;
  ref.batch = B, ref.q_heads = Hq, ref.kv_heads = Hkv, ref.seq_q = ref.seq_k = S, ref.head_dim = D;
  ref.mask = rc.mask;
  ref.mod = a.score_mod;
  if (rc.alibi) ref.slopes.assign(slopes.begin(), slopes.end());
  if (rc.sinks) ref.sinks.assign(sink_logits.begin(), sink_logits.end());
  const RefResult fwd = reference_forward(ref, q, k, v);
  expect_close(dense_of(ot, ft.o), shard_rows_d(fwd.o, B * Hq, S, D, pieces), output_tolerance(rc.dtype), "ring O");
  expect_close(lse.download().value(), shard_rows_d(fwd.lse, B * Hq, S, 1, pieces), lse_tolerance(rc.dtype),
               "ring LSE");

  RingBackwardTensors bt;
  bt.q = ft.q, bt.k = ft.k, bt.v = ft.v, bt.o = ft.o, bt.lse = ft.lse, bt.alibi_slopes = ft.alibi_slopes;
  Tensor dot = device(ctx(), shard_rows(d_o, B * Hq, S, D, pieces), B, Hq, L, D, rc.dtype, rc.layout, bt.d_o);
  Tensor dqt = device(ctx(), std::vector<float>(at(B * Hq * L * D), NAN), B, Hq, L, D, rc.dtype, rc.layout, bt.dq);
  Tensor dkt = device(ctx(), std::vector<float>(at(B * Hkv * L * D), NAN), B, Hkv, L, D, rc.dtype, rc.layout, bt.dk);
  Tensor dvt = device(ctx(), std::vector<float>(at(B * Hkv * L * D), NAN), B, Hkv, L, D, rc.dtype, rc.layout, bt.dv);
  std::optional<Tensor> dsinks;
  if (rc.sinks) {
    dsinks.emplace(Tensor::create(ctx(), F32, {Hq}).value());
    ASSERT_TRUE(dsinks->fill(NAN).is_ok());
    bt.sinks = ft.sinks;
    bt.dsinks = dsinks->view();
  }
  s = ring->backward(bt);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  std::vector<float> o_stored(fwd.o.begin(), fwd.o.end());  // the backward reads O as stored
  round_to_dtype(o_stored, rc.dtype);
  const RefGrads g = reference_backward(ref, q, k, v, d_o, &o_stored);
  const Tolerance qk = qk_gradient_tolerance(rc.dtype);
  expect_close(dense_of(dqt, bt.dq), shard_rows_d(g.dq, B * Hq, S, D, pieces),
               shard_rows_d(g.dq_terms, B * Hq, S, D, pieces), qk, "ring dQ");
  expect_close(dense_of(dkt, bt.dk), shard_rows_d(g.dk, B * Hkv, S, D, pieces),
               shard_rows_d(g.dk_terms, B * Hkv, S, D, pieces), qk, "ring dK");
  expect_close(dense_of(dvt, bt.dv), shard_rows_d(g.dv, B * Hkv, S, D, pieces), gradient_tolerance(rc.dtype),
               "ring dV");
  {  // A second call gives the same bits (the sums start from zero each call, in a fixed order),
     // after the ring's descriptor sets were released.
    const std::vector<float> dq1 = dense_of(dqt, bt.dq), dk1 = dense_of(dkt, bt.dk), dv1 = dense_of(dvt, bt.dv);
    ring->release_descriptor_sets();
    s = ring->backward(bt);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    const std::vector<float> dq2 = dense_of(dqt, bt.dq), dk2 = dense_of(dkt, bt.dk), dv2 = dense_of(dvt, bt.dv);
    EXPECT_EQ(std::memcmp(dq1.data(), dq2.data(), dq1.size() * sizeof(float)), 0) << "dQ differs between calls";
    EXPECT_EQ(std::memcmp(dk1.data(), dk2.data(), dk1.size() * sizeof(float)), 0) << "dK differs between calls";
    EXPECT_EQ(std::memcmp(dv1.data(), dv2.data(), dv1.size() * sizeof(float)), 0) << "dV differs between calls";
  }
  if (rc.sinks) {
    // The whole sequence's gradient on every rank, and the same bits on every rank.
    const std::vector<float> mine = dsinks->download().value();
    expect_close(mine, g.dsinks, g.dsinks_terms, param_gradient_tolerance(rc.dtype), "ring dsinks");
    std::vector<float> rank0 = mine;
    MPI_Bcast(rank0.data(), static_cast<int>(rank0.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
    EXPECT_EQ(std::memcmp(rank0.data(), mine.data(), mine.size() * sizeof(float)), 0) << "dsinks differ from rank 0's";
  }
}


const Mask kCausal = Mask::causal_mask();

const RingCase kRingCases[] = {
    {1, 2, 2, 48, 16, F32, Mask{}, RingSharding::kContiguous},
    {1, 2, 2, 50, 16, F32, kCausal, RingSharding::kContiguous},   // lengths the ranks do not divide
    {1, 4, 2, 61, 16, F32, kCausal, RingSharding::kZigzag},       // GQA, uneven chunks
    {2, 2, 1, 40, 32, F16, kCausal, RingSharding::kZigzag},       // fp16, MQA
    {1, 2, 2, 45, 16, F32, Mask::window(7, 2), RingSharding::kContiguous},
    {1, 2, 2, 52, 16, F16, kCausal, RingSharding::kZigzag, Layout::kBSHD, true},  // BSHD views, ALiBi
    {1, 4, 2, 45, 16, F32, kCausal, RingSharding::kZigzag, Layout::kBHSD, false, true},  // sinks and dsinks
    {1, 2, 2, 38, 16, F16, Mask{}, RingSharding::kContiguous, Layout::kBHSD, false, true},
};

INSTANTIATE_TEST_SUITE_P(Ring, RingTest, ::testing::ValuesIn(kRingCases),
                         [](const ::testing::TestParamInfo<RingCase>& p) { return p.param.name(); });

// Every rank's message of one failing call, gathered: all equal (every rank got the same error).
std::vector<std::string> all_messages(const Status& s) {
  char mine[512] = {};
  std::snprintf(mine, sizeof mine, "%s", s.to_string().c_str());
  std::vector<char> all(512 * static_cast<std::size_t>(world_size()));
  MPI_Allgather(mine, 512, MPI_CHAR, all.data(), 512, MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < world_size(); ++r) out.emplace_back(all.data() + 512 * r);
  return out;
}

class RingErrors : public VkTest {
 protected:
  RingDesc base() const {
    RingDesc d;
    d.attention.dtype = F32, d.attention.q_heads = 2, d.attention.head_dim = 16;
    d.attention.mask = Mask::causal_mask();
    d.seq_total = 40;
    d.timeout = std::chrono::milliseconds(60000);
    return d;
  }
};

TEST_F(RingErrors, DescsThatDisagreeAreRefusedOnEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs two ranks";
  RingDesc d = base();
  if (world_rank() == 1) d.attention.head_dim = 32;
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_FALSE(ring.is_ok());
  EXPECT_EQ(ring.status().code(), ErrorCode::kInvalidArgument);
  const std::vector<std::string> m = all_messages(ring.status());
  EXPECT_NE(m[0].find("ring: rank 1 has desc.attention.head_dim = 32, rank 0 has 16"), std::string::npos) << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
}

TEST_F(RingErrors, ALocalRefusalIsEveryRanksError) {
  RingDesc d = base();
  if (world_rank() == world_size() - 1) d.attention.mask.documents = true;
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_FALSE(ring.is_ok());
  const std::vector<std::string> m = all_messages(ring.status());
  EXPECT_NE(m[0].find("ring: rank " + std::to_string(world_size() - 1) + ": desc.attention.mask.documents"),
            std::string::npos)
      << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
}

// bf16 would re-round the per-step partial O and gradients: refused on every rank.
TEST_F(RingErrors, Bf16IsRefused) {
  RingDesc d = base();
  d.attention.dtype = DType::kBF16;
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_FALSE(ring.is_ok());
  EXPECT_EQ(ring.status().code(), ErrorCode::kInvalidArgument);
  const std::vector<std::string> m = all_messages(ring.status());
  EXPECT_NE(m[0].find("desc.attention.dtype = bf16: the ring takes f32 or f16"), std::string::npos) << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
}

// Dropout's mask and RoPE's positions are keyed by positions within one call: the ring refuses
// both, the same on every rank.
TEST_F(RingErrors, DropoutAndQKTransformAreRefused) {
  RingDesc d = base();
  d.attention.dropout.p = 0.1f;
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_FALSE(ring.is_ok());
  std::vector<std::string> m = all_messages(ring.status());
  EXPECT_NE(m[0].find("desc.attention.dropout.p = 0.1: the ring does not take dropout"), std::string::npos) << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
  d = base();
  d.attention.qk.rope.style = RopeStyle::kRotateHalf;
  ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_FALSE(ring.is_ok());
  m = all_messages(ring.status());
  EXPECT_NE(m[0].find("desc.attention.qk: the ring takes Q and K as given"), std::string::npos) << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
}

TEST_F(RingErrors, ABadTensorOnOneRankIsEveryRanksError) {
  const RingDesc d = base();
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  const std::int64_t L = ring->desc().attention.seq_q;
  Tensor q = Tensor::create(ctx(), F32, {1, 2, L, 16}).value(), k = Tensor::create(ctx(), F32, {1, 2, L, 16}).value();
  Tensor v = Tensor::create(ctx(), F32, {1, 2, L, 16}).value(), o = Tensor::create(ctx(), F32, {1, 2, L, 16}).value();
  Tensor lse = Tensor::create(ctx(), F32, {1, 2, L}).value();
  RingForwardTensors t{q.view(), k.view(), v.view(), o.view(), lse.view()};
  if (world_rank() == 0) t.k.shape[3] = 8;
  const Status s = ring->forward(t);
  ASSERT_FALSE(s.is_ok());
  const std::vector<std::string> m = all_messages(s);
  EXPECT_NE(m[0].find("ring: rank 0: k.shape[3] (Dk) = 8, expected 16"), std::string::npos) << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
}

// The sinks' gradient needs the logits, and dsinks without the desc's sinks is refused, the same
// on every rank, before anything runs.
TEST_F(RingErrors, DsinksWithoutSinksIsRefused) {
  for (const bool desc_sinks : {false, true}) {
    RingDesc d = base();
    d.attention.score_mod.sinks = desc_sinks;
    Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
    ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
    const std::int64_t L = ring->desc().attention.seq_q;
    std::vector<Tensor> t;
    for (int i = 0; i < 9; ++i) t.push_back(Tensor::create(ctx(), F32, {1, 2, L, 16}).value());
    Tensor lse = Tensor::create(ctx(), F32, {1, 2, L}).value();
    Tensor dsinks = Tensor::create(ctx(), F32, {2}).value();
    RingBackwardTensors bt;
    bt.q = t[0].view(), bt.k = t[1].view(), bt.v = t[2].view(), bt.o = t[3].view(), bt.d_o = t[4].view();
    bt.dq = t[5].view(), bt.dk = t[6].view(), bt.dv = t[7].view(), bt.lse = lse.view();
    bt.dsinks = dsinks.view();
    const Status s = ring->backward(bt);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    const std::vector<std::string> m = all_messages(s);
    EXPECT_NE(m[0].find(desc_sinks ? "dsinks is given without sinks" : "dsinks is given but desc.attention.score_mod.sinks is not set"),
              std::string::npos)
        << m[0];
    for (const std::string& x : m) EXPECT_EQ(x, m[0]);
  }
}

// dsinks is written after a collective: given on rank 0 only, every rank refuses the call at once
// with one message, and the ring works afterwards.
TEST_F(RingErrors, DsinksOnOneRankOnlyIsRefusedOnEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs two ranks";
  RingDesc d = base();
  d.attention.score_mod.sinks = true;
  Result<RingAttention> ring = RingAttention::create(ctx(), MPI_COMM_WORLD, d);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  const std::int64_t L = ring->desc().attention.seq_q;
  std::vector<Tensor> t;
  for (int i = 0; i < 9; ++i) t.push_back(Tensor::create(ctx(), F32, {1, 2, L, 16}).value());
  for (Tensor& x : t) ASSERT_TRUE(x.fill(0.25f).is_ok());
  Tensor lse = Tensor::create(ctx(), F32, {1, 2, L}).value();
  Tensor sinks = Tensor::create(ctx(), F32, {2}).value();
  Tensor dsinks = Tensor::create(ctx(), F32, {2}).value();
  ASSERT_TRUE(sinks.fill(0.5f).is_ok());
  ASSERT_TRUE(dsinks.fill(NAN).is_ok());
  RingForwardTensors ft{t[0].view(), t[1].view(), t[2].view(), t[3].view(), lse.view()};
  ft.sinks = sinks.view();
  ASSERT_TRUE(ring->forward(ft).is_ok());
  RingBackwardTensors bt;
  bt.q = t[0].view(), bt.k = t[1].view(), bt.v = t[2].view(), bt.o = t[3].view(), bt.d_o = t[4].view();
  bt.dq = t[5].view(), bt.dk = t[6].view(), bt.dv = t[7].view(), bt.lse = lse.view();
  bt.sinks = sinks.view();
  if (world_rank() == 0) bt.dsinks = dsinks.view();
  const Status s = ring->backward(bt);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  const std::vector<std::string> m = all_messages(s);
  EXPECT_NE(m[0].find("ring: rank 1 gives no dsinks, rank 0 does (every rank passes dsinks or none does)"),
            std::string::npos)
      << m[0];
  for (const std::string& x : m) EXPECT_EQ(x, m[0]);
  EXPECT_TRUE(std::isnan(dsinks.download().value()[0])) << "dsinks was written";
  bt.dsinks = dsinks.view();  // every rank now: the ring still works
  const Status again = ring->backward(bt);
  EXPECT_TRUE(again.is_ok()) << again.to_string();
}

// --dead-rank: the last rank leaves after create(); the others' forward must fail within the
// timeout, naming it, instead of hanging. Prints "dead-rank: rank r reported: <message>".
int dead_rank_main() {
  const int P = world_size(), me = world_rank();
  ContextOptions o;
  o.enable_validation = true;
  o.pipeline_cache.persist = false;
  std::unique_ptr<Context> ctx = Context::create(o).value();
  RingDesc d;
  d.attention.dtype = F32, d.attention.q_heads = 2, d.attention.head_dim = 16;
  d.seq_total = 8 * P;
  d.timeout = std::chrono::milliseconds(3000);
  Result<RingAttention> ring = RingAttention::create(*ctx, MPI_COMM_WORLD, d);
  if (!ring) {
    std::printf("dead-rank: rank %d: create failed: %s\n", me, ring.status().to_string().c_str());
    return 1;
  }
  std::fflush(stdout);
  if (me == P - 1) _exit(0);  // dies without a word
  const std::int64_t L = ring->desc().attention.seq_q;
  Tensor q = Tensor::create(*ctx, F32, {1, 2, L, 16}).value(), k = Tensor::create(*ctx, F32, {1, 2, L, 16}).value();
  Tensor v = Tensor::create(*ctx, F32, {1, 2, L, 16}).value(), out = Tensor::create(*ctx, F32, {1, 2, L, 16}).value();
  Tensor lse = Tensor::create(*ctx, F32, {1, 2, L}).value();
  const auto start = std::chrono::steady_clock::now();
  const Status s = ring->forward({q.view(), k.view(), v.view(), out.view(), lse.view()});
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool ok = s.code() == ErrorCode::kCommunication && s.message().find("within 3000 ms") != std::string::npos &&
                  waited < 30.0;
  std::printf("dead-rank: rank %d reported after %.1f s: %s%s\n", me, waited, s.to_string().c_str(),
              ok ? "" : " (UNEXPECTED)");
  std::fflush(stdout);
  _exit(ok ? 0 : 1);  // MPI cannot finalize with a dead peer
}

}  // namespace
}  // namespace vkattn::test

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dead-rank") == 0) return vkattn::test::dead_rank_main();
  }
  ::testing::InitGoogleTest(&argc, argv);
  int failed = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
