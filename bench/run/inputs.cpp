#include "run/inputs.hpp"

#include <cstring>

namespace vkattn::run_tool {
namespace {

Status expect_rank(const npy::Array& a, const std::string& flag, std::size_t rank, const std::string& dims) {
  if (a.shape.size() != rank) {
    return fail("--" + flag + ": shape " + npy::shape_text(a.shape) + " has rank " + std::to_string(a.shape.size()) +
                ", expected " + std::to_string(rank) + " " + dims);
  }
  return Status::ok();
}

Status expect_dtype(const npy::Array& a, const std::string& flag, std::initializer_list<DType> allowed) {
  for (DType d : allowed) {
    if (a.dtype == d) return Status::ok();
  }
  std::string names;
  for (DType d : allowed) names += (names.empty() ? "" : " or ") + std::string(to_string(d));
  return fail("--" + flag + ": dtype " + to_string(a.dtype) + " is not allowed here (expected " + names + ")");
}

}  // namespace

Dims dims_of(const npy::Array& a, const std::string& layout) {
  const auto& x = a.shape;
  if (layout == "bshd") return {x[0], x[2], x[1], x[3]};
  if (layout == "sbhd") return {x[1], x[2], x[0], x[3]};
  if (layout == "thd") return {1, x[1], x[0], x[2]};
  return {x[0], x[1], x[2], x[3]};
}

std::vector<std::int32_t> ints(const npy::Array& a) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(a.numel()));
  std::memcpy(v.data(), a.data.data(), v.size() * 4);
  return v;
}

Result<Inputs> read_inputs(const Args& a) {
  Inputs in;
  if (a.has("layout")) in.layout = a.get("layout");
  const std::string& layout = in.layout;
  if (layout != "bhsd" && layout != "bshd" && layout != "sbhd" && layout != "thd") {
    return fail("--layout=" + layout + " is not bhsd, bshd, sbhd or thd");
  }
  in.bf16 = a.has("storage");
  if (in.bf16 && a.get("storage") != "bf16") {
    return fail("--storage=" + a.get("storage") + " is not bf16 (f32 and f16 storage follow the .npy dtype)");
  }
  for (const char* f : kFileFlags) {
    if (!a.has(f)) continue;
    Result<npy::Array> arr = npy::load(a.get(f));
    if (!arr) return arr.status();
    in.files.emplace(f, std::move(arr).value());
  }

  // Dtypes and ranks, file by file.
  const std::size_t rank = in.thd() ? 3 : 4;
  const std::string dims_text = in.thd() ? "[T, H, D]" : "(" + layout + ")";
  for (const char* f : {"q", "k", "v", "do"}) {
    if (!in.has(f)) continue;
    if (Status s = expect_rank(in.at(f), f, rank, dims_text); !s) return s;
    if (Status s = expect_dtype(in.at(f), f, {DType::kF32, DType::kF16}); !s) return s;
    if (in.at(f).dtype != in.at("q").dtype) return fail(std::string("--") + f + ": dtype differs from --q");
    if (in.bf16 && in.at(f).dtype != DType::kF32) {
      return fail(std::string("--") + f + ": --storage=bf16 takes f32 arrays (this one is " +
                  to_string(in.at(f).dtype) + ")");
    }
  }
  for (const char* f : {"doc-ids-q", "doc-ids-kv", "cu-seqlens-q", "cu-seqlens-k", "seq-lens-q", "seq-lens-kv",
                        "block-table", "cache-lens", "q-positions", "k-positions"}) {
    if (in.has(f)) if (Status s = expect_dtype(in.at(f), f, {DType::kI32}); !s) return s;
  }
  for (const char* f : {"alibi-slopes", "rel-pos-table", "sinks", "q-norm-weight", "k-norm-weight"}) {
    if (in.has(f)) if (Status s = expect_dtype(in.at(f), f, {DType::kF32}); !s) return s;
  }
  if (in.has("bias")) {
    if (Status s = expect_rank(in.at("bias"), "bias", 4, "[B|1, Hq|1, Sq|1, Sk]"); !s) return s;
    if (Status s = expect_dtype(in.at("bias"), "bias", {DType::kF32, DType::kF16}); !s) return s;
  }

  // Files that go together.
  if (in.thd() != (in.has("cu-seqlens-q") && in.has("cu-seqlens-k"))) {
    return fail("--layout=thd and --cu-seqlens-q/--cu-seqlens-k go together");
  }
  if (in.has("doc-ids-q") != in.has("doc-ids-kv")) return fail("--doc-ids-q and --doc-ids-kv go together");
  in.q = dims_of(in.at("q"), layout);
  in.k = dims_of(in.at("k"), layout);
  in.v = dims_of(in.at("v"), layout);

  // A paged cache: K and V are block pools ([num_blocks, Hkv, block_size, D] in in.k, in.v),
  // addressed through the block table.
  if (in.paged() != in.has("cache-lens")) return fail("--block-table and --cache-lens go together");
  if (in.paged()) {
    if (layout != "bhsd" && layout != "bshd") {
      return fail("--layout=" + layout + " with --block-table: the pools are bhsd or bshd");
    }
    if (in.has("do")) return fail("--do with --block-table: the paged cache is forward only");
    if (in.has("seq-lens-kv")) return fail("--seq-lens-kv with --block-table: the cache's lengths are --cache-lens");
    const npy::Array& table = in.at("block-table");
    const npy::Array& lens = in.at("cache-lens");
    if (Status s = expect_rank(table, "block-table", 2, "[B, max_blocks]"); !s) return s;
    if (Status s = expect_rank(lens, "cache-lens", 1, "[B]"); !s) return s;
    if (table.shape[0] != in.q.b || lens.shape[0] != in.q.b) {
      return fail("--block-table " + npy::shape_text(table.shape) + " and --cache-lens " + npy::shape_text(lens.shape) +
                  " need B = " + std::to_string(in.q.b) + " rows (Q's batch)");
    }
    if (table.shape[1] < 1) return fail("--block-table: shape " + npy::shape_text(table.shape) + " has no columns");
    // Sk is the longest length; one past the table is named here (the plan would name desc.seq_k).
    const std::vector<std::int32_t> cache_lens = ints(lens);
    const std::int64_t block = in.k.s;
    for (std::size_t b = 0; b < cache_lens.size(); ++b) {
      if (cache_lens[b] > table.shape[1] * block) {
        return fail("--cache-lens[" + std::to_string(b) + "] = " + std::to_string(cache_lens[b]) + " needs " +
                    std::to_string((cache_lens[b] + block - 1) / block) + " blocks of " + std::to_string(block) +
                    "; --block-table has " + std::to_string(table.shape[1]) + " columns");
      }
    }
  }
  if (in.has("do")) {
    const Dims d_o = dims_of(in.at("do"), layout), o = in.o();
    if (d_o.b != o.b || d_o.h != o.h || d_o.s != o.s || d_o.d != o.d) {
      return fail("--do: shape " + npy::shape_text(in.at("do").shape) +
                  " does not match O (Q's shape with V's head dim)");
    }
  }
  return in;
}

}  // namespace vkattn::run_tool
