// The paged KV cache (vkattn/paged_kv.hpp) and appends into it (kv_append.hpp): attention over K
// and V scattered into shuffled, non-contiguous pool blocks equals the fp64 reference over the
// logical sequences, for every block size, lengths off block multiples, decode and chunked
// prefill, host and device tables; append followed by attention; bad tables refused with nothing
// written.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;
constexpr DType BF16 = DType::kBF16;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

// A pool of blocks holding a case's keys and values, and the tables that find them.
struct Pool {
  std::int64_t block_size = 0, num_blocks = 0, max_blocks = 0;
  std::vector<std::int32_t> table;  // [B * max_blocks]; entries past a sequence's blocks are -1
  std::optional<Tensor> k, v;       // [num_blocks, block_size, Hkv, D] in memory (BSHD views)
  std::vector<float> k_host, v_host;

  TensorView view(const Tensor& t, std::int64_t hkv, std::int64_t d, DType dt) const {
    return TensorView::attention(t.buffer(), t.size_bytes(), dt, Layout::kBSHD, num_blocks, hkv, block_size, d);
  }
};

// Blocks for every sequence's full Sk plus three spare, shuffled; keys [0, fill[b]) of sequence b
// copied from the case's dense K and V; everything else NaN (never read).
Pool make_pool(Context& ctx, const AttentionCase& c, std::int64_t block_size, const std::vector<std::int64_t>& fill,
               std::mt19937_64& rng) {
  const CaseShape& s = c.shape;
  const std::int64_t B = s.batch, Hkv = s.kv_heads, Sk = s.seq_k, Dk = s.head_dim, Dv = c.ref.dv();
  Pool p;
  p.block_size = block_size;
  p.max_blocks = (Sk + block_size - 1) / block_size;
  p.num_blocks = B * p.max_blocks + 3;
  std::vector<std::int32_t> ids(at(p.num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  p.table.assign(at(B * p.max_blocks), -1);
  p.k_host.assign(at(p.num_blocks * block_size * Hkv * Dk), kNaN);
  p.v_host.assign(at(p.num_blocks * block_size * Hkv * Dv), kNaN);
  std::size_t next = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t len = c.ref.lk(b);
    for (std::int64_t n = 0; n < (len + block_size - 1) / block_size; ++n) p.table[at(b * p.max_blocks + n)] = ids[next++];
    for (std::int64_t j = 0; j < fill[at(b)]; ++j) {
      const std::int64_t blk = p.table[at(b * p.max_blocks + j / block_size)], r = j % block_size;
      for (std::int64_t h = 0; h < Hkv; ++h) {
        for (std::int64_t d = 0; d < Dk; ++d) {
          p.k_host[at(((blk * block_size + r) * Hkv + h) * Dk + d)] = c.k[at(((b * Hkv + h) * Sk + j) * Dk + d)];
        }
        for (std::int64_t d = 0; d < Dv; ++d) {
          p.v_host[at(((blk * block_size + r) * Hkv + h) * Dv + d)] = c.v[at(((b * Hkv + h) * Sk + j) * Dv + d)];
        }
      }
    }
  }
  Result<Tensor> k = Tensor::create(ctx, s.dtype, {p.num_blocks, block_size, Hkv, Dk});
  Result<Tensor> v = Tensor::create(ctx, s.dtype, {p.num_blocks, block_size, Hkv, Dv});
  EXPECT_TRUE(k.is_ok() && v.is_ok());
  if (!k || !v) return p;
  EXPECT_TRUE(k->upload(p.k_host).is_ok());
  EXPECT_TRUE(v->upload(p.v_host).is_ok());
  p.k.emplace(std::move(k).value());
  p.v.emplace(std::move(v).value());
  return p;
}

std::vector<std::int32_t> lens_of(const AttentionCase& c) {
  std::vector<std::int32_t> out;
  for (std::int64_t b = 0; b < c.shape.batch; ++b) out.push_back(static_cast<std::int32_t>(c.ref.lk(b)));
  return out;
}

Result<Tensor> i32_tensor(Context& ctx, const std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape) {
  Result<Tensor> t = Tensor::create(ctx, DType::kI32, shape);
  if (!t) return t;
  std::vector<float> f(values.begin(), values.end());
  VKATTN_TEST_TRY(t->upload(f));
  return t;
}

struct PagedCase {
  CaseShape shape;
  std::int64_t block_size;
  bool device_tables;
};

void PrintTo(const PagedCase& c, std::ostream* os) { *os << c.shape.name() << "_bs" << c.block_size; }

class PagedKvTest : public VkTest, public ::testing::WithParamInterface<PagedCase> {};

TEST_P(PagedKvTest, MatchesFp64Reference) {
  const PagedCase& pc = GetParam();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Result<AttentionCase> c = AttentionCase::create(ctx(), pc.shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  const std::vector<std::int32_t> lens = lens_of(*c);
  Pool pool = make_pool(ctx(), *c, pc.block_size, std::vector<std::int64_t>(lens.begin(), lens.end()), rng);
  ASSERT_TRUE(pool.k && pool.v);

  AttentionDesc d = c->desc();
  d.sequences.seq_lens_kv.clear();
  d.paged_kv.block_size = pool.block_size;
  d.paged_kv.num_blocks = pool.num_blocks;
  d.paged_kv.max_blocks = pool.max_blocks;
  ForwardTensors t = c->tensors();
  t.k = pool.view(*pool.k, pc.shape.kv_heads, pc.shape.head_dim, pc.shape.dtype);
  t.v = pool.view(*pool.v, pc.shape.kv_heads, c->ref.dv(), pc.shape.dtype);
  std::optional<Tensor> table_dev, lens_dev;
  if (pc.device_tables) {
    Result<Tensor> tt = i32_tensor(ctx(), pool.table, {pc.shape.batch, pool.max_blocks});
    Result<Tensor> lt = i32_tensor(ctx(), lens, {pc.shape.batch});
    ASSERT_TRUE(tt.is_ok() && lt.is_ok());
    table_dev.emplace(std::move(tt).value());
    lens_dev.emplace(std::move(lt).value());
    t.block_table = table_dev->view();
    t.cache_lens = lens_dev->view();
  } else {
    d.paged_kv.block_table = pool.table;
    d.paged_kv.cache_lens = lens;
  }
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_NE(plan->variant_name().find("_paged" + std::to_string(pc.block_size)), std::string::npos)
      << plan->variant_name();
  const Status s = plan->run(t);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
  expect_close(c->download_o(), ref.o, output_tolerance(pc.shape.dtype), "O");
  expect_close(c->download_lse(), ref.lse, lse_tolerance(pc.shape.dtype), "LSE");
}

CaseShape paged(std::int64_t b, std::int64_t hq, std::int64_t hkv, std::int64_t sq, std::int64_t sk, std::int64_t d,
                DType dt, Mask mask, const std::function<void(CaseShape&)>& more = {}) {
  CaseShape c{b, hq, hkv, sq, sk, d, dt, mask, Layout::kBSHD, true};
  c.seqs = SeqKind::kPadded;  // random cache lengths per sequence (off block multiples)
  c.pad_q = false;
  if (more) more(c);
  return c;
}

const PagedCase kPagedCases[] = {
    {paged(3, 8, 1, 1, 300, 64, F16, kCausalBR), 8, false},   // decode, GQA 8
    {paged(2, 8, 2, 1, 400, 32, F32, kCausalBR), 16, true},   // device tables
    {paged(2, 4, 4, 1, 333, 32, F16, kNoMask), 32, false},
    {paged(2, 8, 2, 6, 500, 64, F32, kCausalBR), 64, false},  // chunked prefill: 6 new tokens
    {paged(2, 8, 2, 6, 500, 64, F16, kCausalBR), 128, true},
    {paged(2, 4, 1, 3, 700, 32, F32, kCausalBR), 256, false},
    {paged(2, 8, 2, 1, 300, 64, BF16, kCausalBR), 16, true},  // bf16 cache, decode
    {paged(1, 4, 2, 70, 200, 32, F32, kCausalBR), 16, false},  // prefill rows: no packing
    {paged(2, 8, 2, 2, 300, 32, F32, Mask::window(60, 0),
           [](CaseShape& c) { c.mod.alibi = Alibi::kPerHead, c.mod.sinks = true; }),
     32, true},
};

INSTANTIATE_TEST_SUITE_P(Pools, PagedKvTest, ::testing::ValuesIn(kPagedCases),
                         [](const ::testing::TestParamInfo<PagedCase>& p) {
                           return p.param.shape.name() + "_bs" + std::to_string(p.param.block_size) +
                                  (p.param.device_tables ? "_devtables" : "_hosttables");
                         });

// Append `new_tokens` rows per sequence, then attend over the cache with the new lengths: the
// result equals the reference over the whole sequences (the appended rows are the cases' last
// keys, in the blocks the table names).
class KvAppendTest : public VkTest, public ::testing::WithParamInterface<bool> {};

TEST_P(KvAppendTest, AppendThenDecode) {
  const bool device_tables = GetParam();
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::int64_t snew = 3, bs = 16;
  const CaseShape shape = paged(3, 8, 2, snew, 150, 32, F16, kCausalBR);
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  for (std::int64_t& l : c->ref.len_k) l = std::max(l, snew);  // every sequence holds its new tokens
  const std::vector<std::int32_t> lens = lens_of(*c);
  std::vector<std::int64_t> before(lens.begin(), lens.end());
  for (std::int64_t& l : before) l -= snew;
  Pool pool = make_pool(ctx(), *c, bs, before, rng);
  ASSERT_TRUE(pool.k && pool.v);

  // k_new / v_new: the last `snew` keys of each sequence, [B, Hkv, Snew, D].
  const std::int64_t B = shape.batch, Hkv = shape.kv_heads, D = shape.head_dim, Sk = shape.seq_k;
  std::vector<float> k_new(at(B * Hkv * snew * D)), v_new(k_new.size());
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < Hkv; ++h) {
      for (std::int64_t t = 0; t < snew; ++t) {
        for (std::int64_t d = 0; d < D; ++d) {
          const std::size_t from = at(((b * Hkv + h) * Sk + before[at(b)] + t) * D + d);
          k_new[at(((b * Hkv + h) * snew + t) * D + d)] = c->k[from];
          v_new[at(((b * Hkv + h) * snew + t) * D + d)] = c->v[from];
        }
      }
    }
  }
  Result<Tensor> kn = Tensor::create(ctx(), F16, {B, Hkv, snew, D});
  Result<Tensor> vn = Tensor::create(ctx(), F16, {B, Hkv, snew, D});
  ASSERT_TRUE(kn.is_ok() && vn.is_ok());
  ASSERT_TRUE(kn->upload(k_new).is_ok() && vn->upload(v_new).is_ok());

  KVAppendDesc ad;
  ad.dtype = F16, ad.batch = B, ad.kv_heads = Hkv, ad.head_dim = D, ad.new_tokens = snew;
  ad.paged_kv.block_size = bs, ad.paged_kv.num_blocks = pool.num_blocks, ad.paged_kv.max_blocks = pool.max_blocks;
  KVAppendTensors at_;
  at_.k_new = kn->view(), at_.v_new = vn->view();
  at_.k_cache = pool.view(*pool.k, Hkv, D, F16), at_.v_cache = pool.view(*pool.v, Hkv, D, F16);
  std::vector<std::int32_t> before32(before.begin(), before.end());
  std::optional<Tensor> table_dev, lens_dev;
  if (device_tables) {
    Result<Tensor> tt = i32_tensor(ctx(), pool.table, {B, pool.max_blocks});
    Result<Tensor> lt = i32_tensor(ctx(), before32, {B});
    ASSERT_TRUE(tt.is_ok() && lt.is_ok());
    table_dev.emplace(std::move(tt).value());
    lens_dev.emplace(std::move(lt).value());
    at_.block_table = table_dev->view(), at_.cache_lens = lens_dev->view();
  } else {
    ad.paged_kv.block_table = pool.table, ad.paged_kv.cache_lens = before32;
  }
  Result<KVAppendPlan> append = KVAppendPlan::create(ctx(), ad);
  ASSERT_TRUE(append.is_ok()) << append.status().to_string();
  Status s = append->run(at_);
  ASSERT_TRUE(s.is_ok()) << s.to_string();

  AttentionDesc d = c->desc();
  d.sequences.seq_lens_kv.clear();
  d.paged_kv = ad.paged_kv;
  d.paged_kv.block_table = pool.table;
  d.paged_kv.cache_lens = lens;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ForwardTensors t = c->tensors();
  t.k = at_.k_cache, t.v = at_.v_cache;
  s = plan->run(t);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
  expect_close(c->download_o(), ref.o, output_tolerance(F16), "O");
  expect_close(c->download_lse(), ref.lse, lse_tolerance(F16), "LSE");
}

INSTANTIATE_TEST_SUITE_P(Tables, KvAppendTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "device" : "host"; });

// ---- bad tables: the message names the field, index and value; nothing is written ----------

class PagedKvErrors : public VkTest {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    if (HasFatalFailure()) return;
    std::mt19937_64 rng(test_seed());
    Result<AttentionCase> c = AttentionCase::create(ctx(), paged(2, 4, 2, 1, 100, 32, F32, kCausalBR), rng);
    ASSERT_TRUE(c.is_ok());
    c->ref.len_k = {100, 37};
    case_.emplace(std::move(c).value());
    pool_ = make_pool(ctx(), *case_, 16, {100, 37}, rng);
    ASSERT_TRUE(pool_.k && pool_.v);
  }
  void TearDown() override {
    pool_ = Pool{};
    case_.reset();
    VkTest::TearDown();
  }
  AttentionDesc desc() const {
    AttentionDesc d = case_->desc();
    d.sequences.seq_lens_kv.clear();
    d.paged_kv = {16, pool_.num_blocks, pool_.max_blocks, pool_.table, {100, 37}};
    return d;
  }
  void expect_refused(const AttentionDesc& d, const std::string& text) {
    std::vector<const Tensor*> all = case_->device_tensors();
    all.push_back(&*pool_.k);
    all.push_back(&*pool_.v);
    const std::vector<std::vector<std::byte>> before = download_all(all);
    ForwardTensors t = case_->tensors();
    t.k = pool_.view(*pool_.k, 2, 32, F32), t.v = pool_.view(*pool_.v, 2, 32, F32);
    Result<ForwardPlan> p = ForwardPlan::create(ctx(), d);
    const Status s = p ? p->run(t) : p.status();
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(s.message().find(text), std::string::npos) << s.to_string();
    EXPECT_EQ(download_all(all), before) << "a refused call wrote: " << text;
  }
  std::optional<AttentionCase> case_;
  Pool pool_;
};

TEST_F(PagedKvErrors, BadHostTablesAndShapes) {
  AttentionDesc d = desc();
  ASSERT_TRUE(ForwardPlan::create(ctx(), d).is_ok());
  d = desc(), d.paged_kv.block_table[9] = static_cast<std::int32_t>(pool_.num_blocks);  // sequence 1, block 2
  expect_refused(d, "desc.paged_kv.block_table[9] (sequence 1, block 2) = " + std::to_string(pool_.num_blocks));
  d = desc(), d.paged_kv.block_table[0] = -4;
  expect_refused(d, "desc.paged_kv.block_table[0] (sequence 0, block 0) = -4");
  d = desc(), d.paged_kv.cache_lens[1] = 101;
  expect_refused(d, "desc.paged_kv.cache_lens[1] = 101 is outside [0, desc.seq_k = 100]");
  d = desc(), d.paged_kv.cache_lens[1] = -1;
  expect_refused(d, "desc.paged_kv.cache_lens[1] = -1");
  d = desc(), d.paged_kv.block_table.pop_back();
  expect_refused(d, "desc.paged_kv.block_table has 13 entries, expected desc.batch * max_blocks = 14");
  d = desc(), d.paged_kv.block_size = 24;
  expect_refused(d, "desc.paged_kv.block_size = 24");
  d = desc(), d.paged_kv.max_blocks = 6;  // 96 < seq_k
  expect_refused(d, "desc.seq_k = 100 exceeds desc.paged_kv.max_blocks * block_size = 96");
  d = desc(), d.sequences.seq_lens_kv = {1, 1};
  expect_refused(d, "desc.sequences.seq_lens_kv is given with desc.paged_kv");
  d = desc(), d.paged_kv.block_table.clear(), d.paged_kv.cache_lens.clear();  // device tables, none given
  expect_refused(d, "block_table is missing (desc.paged_kv with no host tables is set)");
  d = desc(), d.paged_kv.block_size = 0;  // a host table for a cache that is not paged
  expect_refused(d, "desc.paged_kv.block_table is given with desc.paged_kv.block_size = 0");
}

TEST_F(PagedKvErrors, BackwardRefusesAPagedCache) {
  Result<BackwardPlan> p = BackwardPlan::create(ctx(), desc());
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("desc.paged_kv.block_size = 16: the backward does not take a paged cache"),
            std::string::npos)
      << p.status().to_string();
}

TEST_F(PagedKvErrors, AppendRefusesBadTables) {
  KVAppendDesc ad;
  ad.dtype = F32, ad.batch = 2, ad.kv_heads = 2, ad.head_dim = 32, ad.new_tokens = 2;
  ad.paged_kv = {16, pool_.num_blocks, pool_.max_blocks, pool_.table, {98, 37}};
  const auto refused = [&](const KVAppendDesc& d, const std::string& text) {
    Result<KVAppendPlan> p = KVAppendPlan::create(ctx(), d);
    ASSERT_FALSE(p.is_ok()) << text;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(text), std::string::npos) << p.status().to_string();
  };
  ASSERT_TRUE(KVAppendPlan::create(ctx(), ad).is_ok());
  KVAppendDesc d = ad;
  d.paged_kv.cache_lens[0] = 112;  // positions 112, 113: past 7 blocks of 16
  refused(d, "desc.paged_kv.cache_lens[0] = 112 + desc.new_tokens = 2 runs past the table");
  d = ad, d.paged_kv.block_table[7 + 2] = 99;  // sequence 1's new tokens land in block 2
  refused(d, "desc.paged_kv.block_table[9] (sequence 1, block 2) = 99");
  d = ad, d.paged_kv.block_table[7 + 2] = d.paged_kv.block_table[6];  // sequence 1's new rows 5, 6 of block 2
  d.paged_kv.cache_lens = {110, 37};  // sequence 0 writes rows 14, 15 of its block 6: no clash yet
  ASSERT_TRUE(KVAppendPlan::create(ctx(), d).is_ok());
  d.paged_kv.cache_lens = {101, 37};  // sequence 0 now writes rows 5, 6 of block 6 too
  refused(d, "would both write row 5 of block " + std::to_string(pool_.table[6]));
  d = ad, d.new_tokens = 0;
  refused(d, "desc.new_tokens = 0");
  d = ad, d.head_dim = 36;
  refused(d, "desc.head_dim = 36");
  d = ad, d.batch = d.kv_heads = std::int64_t{1} << 32;  // the product wraps to 0
  refused(d, "desc.batch = 4294967296 * desc.kv_heads = 4294967296 exceeds 2^31");
}

}  // namespace
}  // namespace vkattn::test
