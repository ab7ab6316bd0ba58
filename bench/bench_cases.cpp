#include "bench_cases.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace vkattn::bench {
namespace {

// Query-key pairs `mask` leaves visible for Sq queries and Sk keys (no documents or padding).
double visible_pairs(const Mask& mask, std::int64_t sq, std::int64_t sk) {
  double pairs = 0;
  for (std::int64_t i = 0; i < sq; ++i) {
    const std::int64_t diag = mask.align == Align::kBottomRight ? i + sk - sq : i;
    std::int64_t lo = 0, hi = sk - 1;
    if (mask.causal) hi = std::min(hi, diag);
    if (mask.window_right) hi = std::min(hi, diag + *mask.window_right);
    if (mask.window_left) lo = std::max(lo, diag - *mask.window_left);
    pairs += static_cast<double>(std::max<std::int64_t>(0, hi - lo + 1));
  }
  return pairs;
}

BenchCase make(Pass pass, std::int64_t b, std::int64_t hq, std::int64_t hkv, std::int64_t sq, std::int64_t sk,
               std::int64_t d, DType dtype, const std::string& mask_name, const Mask& mask) {
  BenchCase c;
  c.pass = pass;
  c.batch = b, c.q_heads = hq, c.kv_heads = hkv, c.seq_q = sq, c.seq_k = sk, c.head_dim = d;
  c.dtype = dtype;
  c.mask_name = mask_name;
  c.mask = mask;
  return c;
}

const Mask kCausal = Mask::causal_mask(Align::kBottomRight);

}  // namespace

const char* to_string(Pass p) {
  switch (p) {
    case Pass::kFwd:
      return "fwd";
    case Pass::kBwd:
      return "bwd";
    case Pass::kFwdBwd:
      return "fwdbwd";
  }
  return "?";
}

std::string BenchCase::name() const {
  return std::string(to_string(pass)) + "/" + vkattn::to_string(dtype) + "/" + mask_name + "/b" +
         std::to_string(batch) + "_h" + std::to_string(q_heads) + "x" + std::to_string(kv_heads) + "_sq" +
         std::to_string(seq_q) + "_sk" + std::to_string(seq_k) + "_d" + std::to_string(head_dim) +
         (dv() != head_dim ? "_dv" + std::to_string(dv()) : "") +
         (paged_block != 0 ? "_paged" + std::to_string(paged_block) : "") +
         (dropout != 0.0f ? "_dropout" + std::to_string(static_cast<int>(dropout * 100.0f + 0.5f)) : "") +
         (qk_rms_rope ? (qk_separate ? "_qkrope_sep" : "_qkrope") : "");
}

std::string BenchCase::series() const {
  return std::string(to_string(pass)) + " " + vkattn::to_string(dtype) + " " + mask_name + " d" +
         std::to_string(head_dim) + (dv() != head_dim ? " dv" + std::to_string(dv()) : "");
}

double BenchCase::flops() const {
  const double fwd = 2.0 * static_cast<double>(batch * q_heads) * static_cast<double>(head_dim + dv()) *
                     visible_pairs(mask, seq_q, seq_k);
  return pass == Pass::kFwd ? fwd : pass == Pass::kBwd ? 2.5 * fwd : 3.5 * fwd;
}

double BenchCase::bytes() const {
  const double qo = static_cast<double>(batch * q_heads * seq_q * (head_dim + dv()));
  const double kv = static_cast<double>(batch * kv_heads * seq_k * (head_dim + dv()));
  const double fwd = (qo + kv) * static_cast<double>(dtype_size(dtype));  // Q, K, V read; O written
  return pass == Pass::kFwd ? fwd : 2 * fwd;  // the backward also reads dO, O and writes dQ, dK, dV
}

double BenchCase::kv_bytes() const {
  return static_cast<double>(batch * kv_heads * seq_k * (head_dim + dv())) * static_cast<double>(dtype_size(dtype));
}

std::vector<BenchCase> shape_cases(const std::vector<Shape>& shapes) {
  std::vector<BenchCase> cases;
  for (Pass pass : {Pass::kFwd, Pass::kFwdBwd}) {
    for (const Shape& s : shapes) {
      for (bool causal : {false, true}) {
        BenchCase c = make(pass, s.b, s.h, s.h, s.s, s.s, s.d, DType::kF16, causal ? "causal_br" : "nomask",
                           causal ? kCausal : Mask{});
        c.head_dim_v = s.dv;
        cases.push_back(c);
      }
    }
  }
  return cases;
}

namespace {

// "AxBx...,..." items of `count` integers from 1 to kMaxShapeDim each (or `count` + 1 where
// `optional_last`); an error names the flag, the item and the expected form.
Result<std::vector<std::vector<std::int64_t>>> parse_items(const std::string& text, int count, bool optional_last,
                                                           const std::string& flag, const std::string& form,
                                                           const std::string& example) {
  std::vector<std::vector<std::int64_t>> items;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, end - at);
    std::vector<std::int64_t> v;
    const char* p = item.c_str();
    bool ok = !item.empty();
    for (bool more = ok; more;) {  // one integer, then 'x' and another, or the item's end
      char* next = nullptr;
      errno = 0;
      const long long x = std::isdigit(static_cast<unsigned char>(*p)) ? std::strtoll(p, &next, 10) : 0;
      ok = next != nullptr && errno == 0 && x > 0 && x <= kMaxShapeDim && (*next == 'x' || *next == '\0');
      if (ok) v.push_back(x);
      more = ok && *next == 'x';
      if (more) p = next + 1;
    }
    const auto n = static_cast<int>(v.size());
    ok = ok && (n == count || (optional_last && n == count + 1));
    if (!ok) {
      return Status(ErrorCode::kInvalidArgument,
                    flag + ": \"" + item + "\" is not " + form + " (" + std::to_string(count) +
                        (optional_last ? " or " + std::to_string(count + 1) : "") + " integers from 1 to " +
                        std::to_string(kMaxShapeDim) + ", e.g. " + example + ")");
    }
    for (const auto& seen : items) {
      if (seen == v) return Status(ErrorCode::kInvalidArgument, flag + ": \"" + item + "\" is given twice");
    }
    items.push_back(std::move(v));
    at = end + 1;
  }
  return items;
}

Status check_elements(const std::string& flag, const std::string& item, std::initializer_list<std::int64_t> dims) {
  double n = 1;
  for (std::int64_t d : dims) n *= static_cast<double>(d);
  if (n > static_cast<double>(kMaxShapeElements)) {
    return Status(ErrorCode::kInvalidArgument,
                  flag + ": \"" + item + "\" has more than " + std::to_string(kMaxShapeElements) + " elements per tensor");
  }
  return Status::ok();
}

std::string item_text(const std::vector<std::int64_t>& v) {
  std::string t;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i != 0) t += 'x';
    t += std::to_string(v[i]);
  }
  return t;
}

}  // namespace

Result<std::vector<Shape>> parse_shapes(const std::string& text) {
  Result<std::vector<std::vector<std::int64_t>>> items =
      parse_items(text, 4, true, "--shapes", "BxHxSxD or BxHxSxDkxDv", "4x16x4096x64 or 4x16x4096x192x128");
  if (!items) return items.status();
  std::vector<Shape> shapes;
  for (const auto& v : *items) {
    const Shape shape{v[0], v[1], v[2], v[3], v.size() > 4 && v[4] != v[3] ? v[4] : 0};
    for (std::int64_t d : {shape.d, v.back()}) {
      if (Status st = check_elements("--shapes", item_text(v), {shape.b, shape.h, shape.s, d}); !st) return st;
    }
    if (std::find(shapes.begin(), shapes.end(), shape) != shapes.end()) {  // 1x2x64x32x32 is 1x2x64x32
      return Status(ErrorCode::kInvalidArgument, "--shapes: \"" + item_text(v) + "\" is given twice");
    }
    shapes.push_back(shape);
  }
  return shapes;
}

Result<std::vector<DecodeShape>> parse_decode_shapes(const std::string& text) {
  Result<std::vector<std::vector<std::int64_t>>> items =
      parse_items(text, 6, false, "--decode", "BxHqxHkvxSqxSkxD", "4x32x8x1x8192x128");
  if (!items) return items.status();
  std::vector<DecodeShape> shapes;
  for (const auto& v : *items) {
    const DecodeShape s{v[0], v[1], v[2], v[3], v[4], v[5]};
    if (s.q_heads % s.kv_heads != 0) {
      return Status(ErrorCode::kInvalidArgument, "--decode: \"" + item_text(v) + "\": Hq = " +
                                                     std::to_string(s.q_heads) + " is not a multiple of Hkv = " +
                                                     std::to_string(s.kv_heads));
    }
    // Q (and O) hold B x Hq x Sq x D elements, K and V B x Hkv x Sk x D.
    if (Status st = check_elements("--decode", item_text(v), {s.batch, s.q_heads, s.seq_q, s.head_dim}); !st) return st;
    if (Status st = check_elements("--decode", item_text(v), {s.batch, s.kv_heads, s.seq_k, s.head_dim}); !st) return st;
    shapes.push_back(s);
  }
  return shapes;
}

std::vector<BenchCase> decode_cases(const std::vector<DecodeShape>& shapes, const std::vector<std::int64_t>& paged_blocks) {
  std::vector<BenchCase> cases;
  for (std::int64_t paged : paged_blocks) {
    for (const DecodeShape& s : shapes) {
      BenchCase c = make(Pass::kFwd, s.batch, s.q_heads, s.kv_heads, s.seq_q, s.seq_k, s.head_dim, DType::kF16,
                         "causal_br", kCausal);
      c.paged_block = paged;
      cases.push_back(c);
    }
  }
  return cases;
}

std::vector<BenchCase> preset(const std::string& name, bool cpu) {
  std::vector<BenchCase> cases;
  if (name == "short") {
    const std::vector<Shape> shapes = cpu ? std::vector<Shape>{{1, 4, 256, 64}, {1, 2, 512, 128}}
                                          : std::vector<Shape>{{4, 16, 4096, 64}, {4, 16, 4096, 128}};
    for (const Shape& s : shapes) {
      const std::string win = "win" + std::to_string(s.s / 8) + "_br";
      for (DType dtype : {DType::kF16, DType::kF32}) {
        // Tile skipping shows as time: causal about half of nomask, a window of S/8 about 1/8.
        cases.push_back(make(Pass::kFwd, s.b, s.h, s.h, s.s, s.s, s.d, dtype, "nomask", Mask{}));
        cases.push_back(make(Pass::kFwd, s.b, s.h, s.h, s.s, s.s, s.d, dtype, "causal_br", kCausal));
        cases.push_back(make(Pass::kFwd, s.b, s.h, s.h, s.s, s.s, s.d, dtype, win, Mask::window(s.s / 8, 0)));
      }
    }
    const Shape& s = shapes.front();
    for (Pass pass : {Pass::kBwd, Pass::kFwdBwd}) {
      cases.push_back(make(pass, s.b, s.h, s.h, s.s, s.s, s.d, DType::kF16, "nomask", Mask{}));
      cases.push_back(make(pass, s.b, s.h, s.h, s.s, s.s, s.d, DType::kF16, "causal_br", kCausal));
    }
  } else if (name == "fa2") {
    for (Pass pass : {Pass::kFwd, Pass::kBwd, Pass::kFwdBwd}) {
      for (std::int64_t d : {64, 128, 256}) {
        for (bool causal : {false, true}) {
          for (std::int64_t s = 512; s <= 16384; s *= 2) {
            const std::int64_t h = 2048 / d, b = 16384 / s;
            cases.push_back(
                make(pass, b, h, h, s, s, d, DType::kF16, causal ? "causal_br" : "nomask", causal ? kCausal : Mask{}));
          }
        }
      }
    }
  } else if (name == "compare") {
    // The shapes bench/compare_sdpa.sh times against PyTorch SDPA (FlashAttention-2).
    return shape_cases({{4, 16, 4096, 64}, {4, 16, 4096, 128}, {1, 16, 16384, 128}, {16, 16, 1024, 64}});
  } else if (name == "decode") {
    const std::vector<std::int64_t> batches = cpu ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{1, 16};
    const std::vector<std::int64_t> sqs = cpu ? std::vector<std::int64_t>{1, 8} : std::vector<std::int64_t>{1, 2, 4, 8};
    const std::vector<std::int64_t> sks =
        cpu ? std::vector<std::int64_t>{1024, 4096} : std::vector<std::int64_t>{1024, 4096, 8192, 16384, 32768};
    std::vector<DecodeShape> shapes;
    for (std::int64_t b : batches) {
      for (std::int64_t sq : sqs) {
        for (std::int64_t sk : sks) shapes.push_back(DecodeShape{b, 32, 4, sq, sk, 128});
      }
    }
    return decode_cases(shapes, {0, 16});
  }
  return cases;
}

}  // namespace vkattn::bench
