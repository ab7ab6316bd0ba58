// Ring attention over N ranks from the command line (vkattn/ring.hpp):
//
//   mpirun -np 4 build/examples/example_ring_attention --seq=4096 --heads=8 --kv-heads=2 --dim=64
//          --causal --zigzag [--dtype=f16] [--backward] [--sinks] [--repeat=3]
//
// Every rank makes its own context (one device per rank: on a machine with several GPUs, give
// each rank its own with VKATTN_DEVICE=<index>, e.g. from OMPI_COMM_WORLD_LOCAL_RANK), builds
// the same random Q, K, V from one seed, keeps its shard, and runs the ring forward (and with
// --backward the ring backward). It prints each rank's per-step timings of the last call (plan
// setup, device work, waiting for the next shard, copies) and the ring's best wall
// time. Rank 0 then runs the whole sequence on its own device as a single-rank reference (forward,
// and with --backward the backward too, timed alike), gathers every rank's O and LSE shards (and
// dQ, dK, dV; with --sinks, per-head sink logits in the softmax and, with --backward, their gradient
// dsinks, which every rank gets whole), and prints each one's largest difference (NaN counts as a failure) and the ring's
// time against the single run's. Exit status 0 when every difference is within its tolerance.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "vkattn/ring.hpp"
#include "vkattn/vkattn.hpp"

namespace {

struct Args {
  std::int64_t seq = 1024, heads = 4, kv_heads = 0, dim = 64, repeat = 3;
  bool causal = false, zigzag = false, backward = false, sinks = false;
  vkattn::DType dtype = vkattn::DType::kF32;
};

// A positive integer flag value, or false with the flag named.
bool positive(const std::string& flag, const char* text, std::int64_t& out) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "%s%s: not a positive integer\n", flag.c_str(), text);
    return false;
  }
  out = v;
  return true;
}

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto value = [&](const char* flag) -> const char* {
      const std::size_t n = std::strlen(flag);
      return s.compare(0, n, flag) == 0 ? s.c_str() + n : nullptr;
    };
    bool ok = true;
    if (const char* v = value("--seq=")) ok = positive("--seq=", v, a.seq);
    else if (const char* v2 = value("--heads=")) ok = positive("--heads=", v2, a.heads);
    else if (const char* v3 = value("--kv-heads=")) ok = positive("--kv-heads=", v3, a.kv_heads);
    else if (const char* v4 = value("--dim=")) ok = positive("--dim=", v4, a.dim);
    else if (const char* v5 = value("--repeat=")) ok = positive("--repeat=", v5, a.repeat);
    else if (const char* v6 = value("--dtype=")) {
      const std::string t = v6;
      if (t != "f16" && t != "f32") {
        std::fprintf(stderr, "--dtype=%s: the ring takes f16 or f32\n", v6);
        return false;
      }
      a.dtype = t == "f16" ? vkattn::DType::kF16 : vkattn::DType::kF32;
    }
    else if (s == "--causal") a.causal = true;
    else if (s == "--zigzag") a.zigzag = true;
    else if (s == "--backward") a.backward = true;
    else if (s == "--sinks") a.sinks = true;
    else {
      std::fprintf(stderr, "%s\n", s == "--help" ? "" : ("unknown argument " + s).c_str());
      return false;
    }
    if (!ok) return false;
  }
  if (a.kv_heads == 0) a.kv_heads = a.heads;
  return true;
}

// Rows of `pieces` of a dense [H, S, D] array (batch 1), in shard order.
std::vector<float> shard(const std::vector<float>& full, std::int64_t h, std::int64_t s, std::int64_t d,
                         const std::vector<vkattn::ShardPiece>& pieces, std::int64_t len) {
  std::vector<float> out(static_cast<std::size_t>(h * len * d));
  for (std::int64_t k = 0; k < h; ++k)
    for (const vkattn::ShardPiece& p : pieces)
      for (std::int64_t r = 0; r < p.length; ++r)
        std::memcpy(&out[static_cast<std::size_t>((k * len + p.local_start + r) * d)],
                    &full[static_cast<std::size_t>((k * s + p.global_start + r) * d)], static_cast<std::size_t>(d) * 4);
  return out;
}

int fail(const char* what, const vkattn::Status& s) {
  std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

// Everything between MPI_Init and MPI_Finalize (the ring frees its communicator when it goes).
int run(int rank, int ranks, const Args& a) {
  auto ctx = vkattn::Context::create();
  if (!ctx) return fail("Context::create", ctx.status());
  vkattn::RingDesc desc;
  desc.attention.dtype = a.dtype;
  desc.attention.q_heads = a.heads;
  desc.attention.kv_heads = a.kv_heads;
  desc.attention.head_dim = a.dim;
  if (a.causal) desc.attention.mask = vkattn::Mask::causal_mask();
  desc.attention.score_mod.sinks = a.sinks;
  desc.seq_total = a.seq;
  desc.sharding = a.zigzag ? vkattn::RingSharding::kZigzag : vkattn::RingSharding::kContiguous;
  auto ring = vkattn::RingAttention::create(**ctx, MPI_COMM_WORLD, desc);
  if (!ring) return fail("RingAttention::create", ring.status());

  // The same Q, K, V on every rank (one seed); each keeps its shard.
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const auto random = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = u(rng);
    return v;
  };
  const std::int64_t H = a.heads, Hkv = a.kv_heads, S = a.seq, D = a.dim;
  const std::vector<float> q = random(H * S * D), k = random(Hkv * S * D), v = random(Hkv * S * D);
  const std::vector<float> d_o = random(H * S * D);
  const std::vector<vkattn::ShardPiece> pieces = ring->pieces();
  const std::int64_t L = ring->desc().attention.seq_q;
  vkattn::Context& c = **ctx;
  const auto tensor = [&](const std::vector<float>& values, std::int64_t h, std::int64_t s) {
    vkattn::Tensor t = vkattn::Tensor::create(c, a.dtype, {1, h, s, D}).value();
    if (!values.empty()) (void)t.upload(values);
    return t;
  };
  vkattn::Tensor qt = tensor(shard(q, H, S, D, pieces, L), H, L), kt = tensor(shard(k, Hkv, S, D, pieces, L), Hkv, L);
  vkattn::Tensor vt = tensor(shard(v, Hkv, S, D, pieces, L), Hkv, L), ot = tensor({}, H, L);
  vkattn::Tensor lse = vkattn::Tensor::create(c, vkattn::DType::kF32, {1, H, L}).value();
  vkattn::Tensor dot = tensor(shard(d_o, H, S, D, pieces, L), H, L);
  vkattn::Tensor dq = tensor({}, H, L), dk = tensor({}, Hkv, L), dv = tensor({}, Hkv, L);
  // --sinks: fp32 [H] logits (the same on every rank) and their gradient.
  vkattn::Tensor sinks = vkattn::Tensor::create(c, vkattn::DType::kF32, {H}).value();
  vkattn::Tensor dsinks = vkattn::Tensor::create(c, vkattn::DType::kF32, {H}).value();
  (void)sinks.upload(random(H));
  const auto with_sinks = [&](auto t) {
    if (a.sinks) t.sinks = sinks.view();
    return t;
  };

  double best = 1e30;
  for (std::int64_t r = 0; r < a.repeat; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    vkattn::Status s = ring->forward(with_sinks(vkattn::RingForwardTensors{qt.view(), kt.view(), vt.view(), ot.view(), lse.view()}));
    if (!s) return fail("forward", s);
    if (a.backward) {
      vkattn::RingBackwardTensors bt{qt.view(), kt.view(), vt.view(), ot.view(), lse.view(),
                                     dot.view(), dq.view(), dk.view(), dv.view()};
      bt = with_sinks(bt);
      if (a.sinks) bt.dsinks = dsinks.view();
      s = ring->backward(bt);
      if (!s) return fail("backward", s);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // Per-rank step timings of the last call (the backward's, with --backward), in rank order.
  for (int r = 0; r < ranks; ++r) {
    if (r == rank) {
      std::printf("rank %d (%lld tokens), last %s call:", rank, static_cast<long long>(L),
                  a.backward ? "backward" : "forward");
      for (const vkattn::RingStepTiming& t : ring->last_timings()) {
        std::printf(" [setup %.1f ms, compute %.1f ms, wait %.1f ms, copy %.1f ms]", t.setup_s * 1e3,
                    t.compute_s * 1e3, t.wait_s * 1e3, t.copy_s * 1e3);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }

  // Every rank's shards of each output, gathered on rank 0 in rank order.
  const auto gather = [&](const vkattn::Tensor& t) {
    const std::vector<float> mine_values = t.download().value();
    const int mine = static_cast<int>(mine_values.size());
    std::vector<int> counts(static_cast<std::size_t>(ranks)), displs(static_cast<std::size_t>(ranks));
    MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < ranks; ++r) displs[static_cast<std::size_t>(r)] = total, total += counts[static_cast<std::size_t>(r)];
    std::vector<float> all(static_cast<std::size_t>(rank == 0 ? total : 0));
    MPI_Gatherv(mine_values.data(), mine, MPI_FLOAT, all.data(), counts.data(), displs.data(), MPI_FLOAT, 0,
                MPI_COMM_WORLD);
    return all;
  };
  const std::vector<float> o_all = gather(ot), lse_all = gather(lse);
  std::vector<float> dq_all, dk_all, dv_all;
  if (a.backward) dq_all = gather(dq), dk_all = gather(dk), dv_all = gather(dv);
  std::vector<float> dsinks_all;  // every rank's whole [H], in rank order
  if (a.backward && a.sinks) dsinks_all = gather(dsinks);
  int status = 0;
  if (rank == 0) {
    vkattn::Tensor fq = tensor(q, H, S), fk = tensor(k, Hkv, S), fv = tensor(v, Hkv, S), fo = tensor({}, H, S);
    vkattn::Tensor flse = vkattn::Tensor::create(c, vkattn::DType::kF32, {1, H, S}).value();
    vkattn::Tensor fdo = tensor(d_o, H, S), fdq = tensor({}, H, S), fdk = tensor({}, Hkv, S), fdv = tensor({}, Hkv, S);
    vkattn::AttentionDesc d = desc.attention;
    d.seq_q = d.seq_k = S;
    auto plan = vkattn::ForwardPlan::create(c, d).value();
    std::optional<vkattn::BackwardPlan> bplan;
    if (a.backward) bplan.emplace(vkattn::BackwardPlan::create(c, d).value());
    vkattn::Tensor fdsinks = vkattn::Tensor::create(c, vkattn::DType::kF32, {H}).value();
    vkattn::ForwardTensors ft = with_sinks(vkattn::ForwardTensors{fq.view(), fk.view(), fv.view(), fo.view(), flse.view()});
    vkattn::BackwardTensors bt;
    bt.q = fq.view(), bt.k = fk.view(), bt.v = fv.view(), bt.o = fo.view(), bt.lse = flse.view(), bt.d_o = fdo.view();
    bt.dq = fdq.view(), bt.dk = fdk.view(), bt.dv = fdv.view();
    if (a.sinks) bt.sinks = sinks.view(), bt.dsinks = fdsinks.view();
    double single = 1e30;
    for (std::int64_t r = 0; r < a.repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      if (vkattn::Status s = plan.run(ft); !s) return fail("single-rank forward", s);
      if (bplan) {
        if (vkattn::Status s = bplan->run(bt); !s) return fail("single-rank backward", s);
      }
      single = std::min(single, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    // Largest |ring - single| of one output over every rank's shard, relative to the largest
    // |single| for the gradients; NaN (or a missing value) makes it infinite.
    const auto compare = [&](const char* name, const std::vector<float>& all, const vkattn::Tensor& ref_t,
                             std::int64_t heads, std::int64_t d_cols, double tol, bool relative) {
      const std::vector<float> full = ref_t.download().value();
      double worst = 0, largest = 0;
      for (float x : full) largest = std::max(largest, static_cast<double>(std::fabs(x)));
      std::size_t at = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto rp = vkattn::ring_shard_pieces(desc.sharding, S, ranks, r);
        const std::int64_t rl = vkattn::ring_shard_length(desc.sharding, S, ranks, r);
        for (float ref : shard(full, heads, S, d_cols, rp, rl)) {
          const double err = at < all.size() ? std::fabs(static_cast<double>(all[at]) - ref) : INFINITY;
          ++at;
          if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
        }
      }
      const double allowed = relative ? tol * std::max(largest, 1e-30) : tol;
      const bool ok = worst <= allowed;
      std::printf("  largest |%s_ring - %s_single| = %.2e (allowed %.2e: %s)\n", name, name, worst, allowed,
                  ok ? "ok" : "TOO LARGE");
      return ok;
    };
    // The same for an output every rank holds whole: |ring - single| relative to the largest |single|.
    const auto compare_whole = [&](const char* name, const std::vector<float>& mine, const vkattn::Tensor& ref_t,
                                   double tol) {
      const std::vector<float> full = ref_t.download().value();
      double worst = mine.size() == full.size() ? 0.0 : INFINITY, largest = 0;
      for (float x : full) largest = std::max(largest, static_cast<double>(std::fabs(x)));
      for (std::size_t i = 0; i < mine.size() && i < full.size(); ++i) {
        const double err = std::fabs(static_cast<double>(mine[i]) - full[i]);
        if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
      }
      const double allowed = tol * std::max(largest, 1e-30);
      std::printf("  largest |%s_ring - %s_single| = %.2e (allowed %.2e: %s)\n", name, name, worst, allowed,
                  worst <= allowed ? "ok" : "TOO LARGE");
      return worst <= allowed;
    };
    const bool f16 = a.dtype == vkattn::DType::kF16;
    std::printf("ring of %d ranks: %.1f ms; single rank, whole sequence: %.1f ms (%s)\n", ranks, best * 1e3,
                single * 1e3, a.backward ? "forward + backward, both" : "forward, both");
    bool ok = compare("O", o_all, fo, H, D, f16 ? 5e-3 : 1e-4, false);
    ok = compare("LSE", lse_all, flse, H, 1, f16 ? 1e-3 : 1e-4, false) && ok;
    if (a.backward) {  // sums over every key (dQ) or query (dK, dV): a fraction of the largest
      ok = compare("dQ", dq_all, fdq, H, D, f16 ? 2e-2 : 1e-4, true) && ok;
      ok = compare("dK", dk_all, fdk, Hkv, D, f16 ? 2e-2 : 1e-4, true) && ok;
      ok = compare("dV", dv_all, fdv, Hkv, D, f16 ? 2e-2 : 1e-4, true) && ok;
      if (a.sinks) {  // every rank holds the whole [H]: each rank's against the single run
        for (int r = 0; r < ranks; ++r) {
          const auto first = dsinks_all.begin() + static_cast<std::ptrdiff_t>(r * H);
          const std::vector<float> theirs(first, first + static_cast<std::ptrdiff_t>(H));
          const std::string name = "dsinks(rank " + std::to_string(r) + ")";
          ok = compare_whole(name.c_str(), theirs, fdsinks, f16 ? 2e-2 : 1e-4) && ok;
        }
      }
    }
    status = ok ? 0 : 1;
  }
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  Args a;
  int status = 2;
  if (parse(argc, argv, a)) {
    status = run(rank, ranks, a);
  } else if (rank == 0) {
    std::fprintf(stderr, "usage: see the comment at the top of examples/ring/ring_attention.cpp\n");
  }
  MPI_Finalize();
  return status;
}
