// The kernel path of a plan, decided once per plan and the same way for both passes: an explicit
// desc.path, else the context's override (ContextOptions::overrides.path or VKATTN_PATH), else
// automatic: coopmat where the device and the problem allow it (decode-shaped forwards and paged
// caches only on its KHR build: kCoopmatDecodeByDefault), else scalar. The choice carries its
// reason.
#pragma once

#include <cstdint>
#include <string>

#include "planning/overrides.hpp"
#include "planning/problem.hpp"
#include "vkattn/device.hpp"

namespace vkattn {

enum class Pass { kForward, kBackward };

// Whether automatic choice sends decode-shaped forwards and paged caches to the KHR build of the
// coopmat kernel (attn_fwd_cm.comp's PACK_GQA, key lanes, split-K and paged rows). True since the
// H200 (driver 580) passed decode_test and paged_kv_test's fp16 cases on it and ran the decode
// preset 2.6-15x faster than the scalar kernel (GQA 32:4, D = 128: Sk = 32k, Sq = 1 at batch 1
// 0.142 ms against 0.624; at batch 16 0.330 against 5.07; bench/RESULTS_H100.md, eighteenth
// session). The NV build's decode has not run on a GPU: auto keeps those problems on the scalar
// kernel there, saying why, and runs them on the NV build when asked for (desc.path, VKATTN_PATH).
inline constexpr bool kCoopmatDecodeByDefault = true;

// Whether automatic choice sends bf16 problems to the coopmat kernels, which load bf16 as fp16
// operands (exact within fp16's range, saturating beyond: shaders/attn_cm_tiles.glsl). True since
// the H200 ran bf16_test on them (94 TFLOP/s forward at (4, 16, 4096, 128) against the scalar
// kernel's ~10); VKATTN_PATH = scalar keeps bf16's full range.
inline constexpr bool kCoopmatBf16ByDefault = true;

// Whether automatic choice takes the KHR build of the coopmat kernels (KernelPath::kCoopmatKhr)
// over the NV build where both can run. True since the H200 (driver 580) passed the suite on it
// and ran it 1.40x (forward) and 1.47x (forward + backward) the NV build at (4, 16, 4096, 128)
// (bench/RESULTS_H100.md, seventeenth session); VKATTN_PATH = coopmat still runs the NV build.
inline constexpr bool kCoopmatKhrByDefault = true;

// Whether automatic choice takes the cooperative-matrix-2 kernels (KernelPath::kCoopmat2) where they
// can run. False: on the H200 they pass the forward and backward suites but run slower than the KHR
// build (forward at (4, 16, 4096, D) fp16: 142.6 against 205.1 TFLOP/s at D = 64, 176.8 against
// 203.3 at D = 128 with their best tiles; forward + backward 47 against 182 on the H100;
// bench/RESULTS_H100.md, twentieth session). PlanOverrides::cm2 = 1 (VKATTN_CM2) prefers them.
inline constexpr bool kCoopmat2ByDefault = false;
// Overrides::cm2's internal value that keeps automatic choice off cooperative matrix 2 (the
// planner's retry when the device's shapes cannot tile a problem; the public override takes 1).
inline constexpr std::uint32_t kCoopmat2Off = 2;

struct PathChoice {
  bool coopmat = false;  // the coopmat kernels (either build)
  bool khr = false;      // ... their VK_KHR_cooperative_matrix build
  // Why: "desc.path = scalar", "VKATTN_PATH = coopmat", "auto: coopmat", or "auto: scalar
  // (<what keeps the problem off the coopmat kernels>)".
  std::string reason;
  bool cm2 = false;  // the forward on cooperative matrix 2 (attn_fwd_cm2.comp); coopmat and khr are false
  // kScalar, kCoopmat, kCoopmatKhr or kCoopmat2.
  KernelPath kernels() const {
    if (cm2) return KernelPath::kCoopmat2;
    return !coopmat ? KernelPath::kScalar : khr ? KernelPath::kCoopmatKhr : KernelPath::kCoopmat;
  }
};

// Why `p` cannot run on the coopmat kernels of `pass` on `info` ("" if it can), in their NV
// build or (khr) their KHR build. Forward: the toolchain and the device's support of the extension,
// fp16 or bf16 storage, fp16 storage, the workgroup size and the shared
// memory of the smallest tiles (any head dim: 8 mod 16 is padded, attn_cm_tiles.glsl). Backward: those, and its own shared
// memory (head dims past 128 split dQ, dK and dV into chunks of the head dim: cm_bwd_chunk16).
std::string coopmat_blocker(const Problem& p, Pass pass, const DeviceInfo& info, bool khr);

// Why `p` cannot run `pass` on the cooperative-matrix-2 kernels on `info` ("" if it can): the
// toolchain, DeviceInfo::coopmat2, fp16 storage, and what only the coopmat kernels do (a paged
// cache; in the forward split-K decode with GQA packing and a forced split count).
std::string coopmat2_blocker(const Problem& p, Pass pass, const DeviceInfo& info, const Overrides& overrides);

// An explicit coopmat2 request runs the pass there, or is kUnsupported with coopmat2_blocker's
// reason.
// An explicit coopmat or coopmat_khr request (desc.path or the override) that coopmat_blocker
// refuses is kUnsupported: "<desc.path | VKATTN_PATH | options.overrides.path> = coopmat: <reason>".
Result<PathChoice> choose_path(const Problem& p, Pass pass, const DeviceInfo& info, const Overrides& overrides);

}  // namespace vkattn
