#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

// qk_transform.comp — QK-norm then rotary position embedding of rows of Q or K, and its backward
// (vkattn/qk_transform.hpp states the math for users).
//
// Row x (D elements, fp32 arithmetic):
//   norm   RMS: u = x / r, r = sqrt(mean_e x_e^2 + eps), n = u o w     (w: weight [D])
//          L2:  u = x / r, r = max(|x|, eps),            n = scale u
//   RoPE   for pair k = (a, b) of the plan's table with frequency f_k and the row's coordinate p
//          on the pair's axis: phi = p f_k, (y_a, y_b) = (n_a cos phi - n_b sin phi,
//          n_a sin phi + n_b cos phi); pairs past the rotary dims, and every pair without RoPE,
//          keep n.
// Backward, from dY:
//   dn = R(-phi) dY (pairwise),  RMS: du = dn o w, dweight += dn o u (summed over rows),
//                                     dx = (du - u (du . u) / D) / r
//                                L2:  dx = scale (dn - u (dn . u)) / r   (|x| > eps; else scale dn / eps)
//
// Angles: phi = p f mod 2 pi in turns, exactly in integer arithmetic from f / (2 pi) as a 64-bit
// fixed-point fraction (the host's double), then sin and cos by polynomials on [-pi/4, pi/4]: the
// error is a few fp32 roundings of the reduced angle (below 1e-6 rad for any int32 position), not
// p times fp32's rounding of f (0.002 rad at p = 32768), and it does not depend on the device's
// sin and cos, whose precision Vulkan leaves loose.
//
// One workgroup walks rows_per_group rows in order; per row, invocation c < D / 2 loads words
// 2c, 2c + 1 into shared memory (so every word of an fp16 row has one writer), the row's sums
// reduce in a fixed-order tree, invocation k transforms pair k in place, and invocation c writes
// words 2c, 2c + 1 back. The backward's dweight part of the workgroup (pair k's two elements) stays
// in registers across its rows and goes to parts[group]; the reduce pass (PASS = QK_PASS_REDUCE,
// invocation e) sums element e of the parts in group order: deterministic.

#include "attn_enums.glsl"
#include "storage.glsl"

#define VKATTN_SPEC(id, NAME, field, def) layout(constant_id = id) const uint NAME = def;
#include "qk_transform_spec.inc"
#undef VKATTN_SPEC

layout(local_size_x_id = 7) in;

layout(push_constant) uniform QKPush {
#define VKATTN_PC(T, name) T name;
#include "qk_transform_push.inc"
#undef VKATTN_PC
} pc;

#include "attn_buffers.glsl"
#include "qk_transform_bindings.inc"
#undef VKATTN_BUFFER
#undef VKATTN_PARAMS

const uint PAIRS = HEAD_DIM / 2u;
shared float row_sh[HEAD_DIM];   // x, then the transformed row (dx in the backward)
shared float drow_sh[HEAD_DIM];  // backward: dY, then dn
shared float sum_sh[WORKGROUP_SIZE];

// The sum over the workgroup of `v` (one value per invocation), in a fixed-order tree.
float workgroup_sum(float v) {
  const uint t = gl_LocalInvocationID.x;
  sum_sh[t] = v;
  barrier();
  [[unroll]] for (uint k = WORKGROUP_SIZE / 2u; k > 0u; k /= 2u) {
    if (t < k) sum_sh[t] += sum_sh[t + k];
    barrier();
  }
  const float total = sum_sh[0];
  barrier();  // sum_sh is free again
  return total;
}

// sin and cos of r in [-pi, pi]: quadrant q = round(r / (pi/2)) (|q| <= 2), t = r - q pi/2 in
// [-pi/4, pi/4] (q times pi/2's leading float is exact for |q| <= 2, and so is the subtraction,
// the two being within a factor of 2), Taylor series to t^11 and t^12 (truncation below 1e-10).
vec2 sin_cos(float r) {
  const float q = round(r * 0.63661977236758134);
  precise float t = r - q * 1.5707963705062866;  // pi/2 = 1.5707963705062866 - 4.3711388e-8
  t = t + q * 4.371138828673793e-8;
  const float t2 = t * t;
  const float s = t * (1.0 + t2 * (-1.0 / 6.0 + t2 * (1.0 / 120.0 + t2 * (-1.0 / 5040.0 + t2 * (1.0 / 362880.0 + t2 * (-1.0 / 39916800.0))))));
  const float c = 1.0 + t2 * (-0.5 + t2 * (1.0 / 24.0 + t2 * (-1.0 / 720.0 + t2 * (1.0 / 40320.0 + t2 * (-1.0 / 3628800.0 + t2 * (1.0 / 479001600.0))))));
  const int quadrant = int(q) & 3;
  return quadrant == 0 ? vec2(s, c) : quadrant == 1 ? vec2(c, -s) : quadrant == 2 ? vec2(-s, -c) : vec2(-c, s);
}

// p f modulo 2 pi, in [-pi, pi), for an integer position p: the frequency comes as the 64-bit
// fixed-point fraction g = round(f / (2 pi) 2^64) (the table's two words), and p g mod 2^64 is
// the angle in turns, formed exactly in 32-bit integer arithmetic (umulExtended); only its
// conversion to a float rounds (about 2e-7 rad). fma is not used: Vulkan does not promise it
// fused (lavapipe splits it).
float reduce_angle(int p, uvec2 g) {
  const uint a = uint(abs(p));
  uint hi, lo;
  umulExtended(a, g.y, hi, lo);
  const uint top = hi + a * g.x;  // the turns' upper 32 bits (mod 2^32)
  float turns = float(int(top)) * (1.0 / 4294967296.0) + float(lo) * (1.0 / 18446744073709551616.0);
  if (p < 0) turns = -turns;
  return turns * 6.2831853071795865;
}

// The coordinate of row s on axis `axis`: 1D: its position; a grid: its index on that axis.
int coordinate(uint b, uint s, uint axis) {
  if (AXES == 1u) {
    return POSITIONS != 0u ? positions[pc.positions_offset + b * pc.positions_stride_b + s] : int(s) + pc.position_offset;
  }
  const uint extent1 = AXES == 3u ? pc.grid1 * pc.grid2 : pc.grid1;  // rows per step of axis 0
  if (axis == 0u) return int(s / extent1);
  if (axis == 1u) return int(AXES == 3u ? (s / pc.grid2) % pc.grid1 : s % pc.grid1);
  return int(s % pc.grid2);
}

// Pair k's rotation (cos, sin) at row (b, s); (1, 0) for a pair that is not rotated.
vec2 rotation(uvec4 pair, uint b, uint s) {
  if (AXES == 0u || pair.y == 0xFFFFFFFFu) return vec2(1.0, 0.0);
  const vec2 sc = sin_cos(reduce_angle(coordinate(b, s, pair.y), pair.zw));
  return vec2(sc.y, sc.x);
}

float weight_of(uint e) { return NORM == QK_NORM_RMS ? weight[pc.weight_offset + e] : 1.0; }

void main() {
  const uint t = gl_LocalInvocationID.x;
  if (PASS == QK_PASS_REDUCE) {  // dweight[e] = sum over groups of parts[g][e], in order
    const uint e = gl_GlobalInvocationID.x;
    if (e >= HEAD_DIM) return;
    float acc = 0.0;
    for (uint g = 0u; g < pc.groups; ++g) acc += parts[g * HEAD_DIM + e];
    dweight[pc.dweight_offset + e] = acc;
    return;
  }
  const bool owns = t < PAIRS;
  const uvec4 pair = owns ? pairs[t] : uvec4(0u);
  const uint ea = pair.x & 0xFFFFu, eb = pair.x >> 16u;
  const float wa = owns ? weight_of(ea) : 0.0, wb = owns ? weight_of(eb) : 0.0;
  float dwa = 0.0, dwb = 0.0;  // backward: this workgroup's dweight of elements ea, eb
  const uint row0 = gl_WorkGroupID.x * pc.rows_per_group;
  const uint row_end = min(row0 + pc.rows_per_group, pc.rows);
  for (uint row = row0; row < row_end; ++row) {
    const uint s = row % pc.seq;
    const uint h = (row / pc.seq) % pc.heads;
    const uint b = row / (pc.seq * pc.heads);
    const uint x_at = pc.x_offset + b * pc.x_stride_b + h * pc.x_stride_h + s * pc.x_stride_s;
    float sq = 0.0;
    if (owns) {
      const float x0 = LOAD_ELEM(x_words, x_at + 2u * t), x1 = LOAD_ELEM(x_words, x_at + 2u * t + 1u);
      row_sh[2u * t] = x0;
      row_sh[2u * t + 1u] = x1;
      sq = x0 * x0 + x1 * x1;
      if (PASS == QK_PASS_BACKWARD) {
        const uint dy_at = pc.dy_offset + b * pc.dy_stride_b + h * pc.dy_stride_h + s * pc.dy_stride_s;
        drow_sh[2u * t] = LOAD_ELEM(dy_words, dy_at + 2u * t);
        drow_sh[2u * t + 1u] = LOAD_ELEM(dy_words, dy_at + 2u * t + 1u);
      }
    }
    // r (and the scale the normalized row gets): the fixed-order sum of squares.
    const float total = NORM != QK_NORM_NONE ? workgroup_sum(sq) : 0.0;  // (its barriers fence the loads)
    if (NORM == QK_NORM_NONE) barrier();
    const float norm = sqrt(total);
    const float r = NORM == QK_NORM_RMS ? sqrt(total / float(HEAD_DIM) + pc.eps) : max(norm, pc.eps);
    const float inv_r = NORM == QK_NORM_NONE ? 1.0 : 1.0 / r;
    const float gain = NORM == QK_NORM_L2 ? pc.scale : 1.0;  // L2's scale; RMS's weight is per element

    const vec2 cs = owns ? rotation(pair, b, s) : vec2(1.0, 0.0);
    if (PASS == QK_PASS_FORWARD) {
      if (owns) {
        const float na = row_sh[ea] * inv_r * gain * wa, nb = row_sh[eb] * inv_r * gain * wb;
        row_sh[ea] = na * cs.x - nb * cs.y;
        row_sh[eb] = na * cs.y + nb * cs.x;
      }
    } else {
      // dn = R(-phi) dY; u = x / r.
      float dna = 0.0, dnb = 0.0, ua = 0.0, ub = 0.0;
      if (owns) {
        const float dya = drow_sh[ea], dyb = drow_sh[eb];
        dna = dya * cs.x + dyb * cs.y;
        dnb = -dya * cs.y + dyb * cs.x;
        ua = row_sh[ea] * inv_r;
        ub = row_sh[eb] * inv_r;
      }
      // RMS: du = dn o w, dot = du . u; L2: dot = dn . u.
      const float dua = dna * wa * gain, dub = dnb * wb * gain;
      const float dot = NORM != QK_NORM_NONE ? workgroup_sum(NORM == QK_NORM_RMS ? dua * ua + dub * ub : dna * ua + dnb * ub)
                                             : 0.0;
      if (owns) {
        float dxa = dna, dxb = dnb;
        if (NORM == QK_NORM_RMS) {
          dxa = (dua - ua * dot / float(HEAD_DIM)) * inv_r;
          dxb = (dub - ub * dot / float(HEAD_DIM)) * inv_r;
          dwa += dna * ua;
          dwb += dnb * ub;
        } else if (NORM == QK_NORM_L2) {
          const bool clamped = norm <= pc.eps;  // r = eps: the scale is constant there
          dxa = gain * (clamped ? dna : dna - ua * dot) * inv_r;
          dxb = gain * (clamped ? dnb : dnb - ub * dot) * inv_r;
        }
        row_sh[ea] = dxa;
        row_sh[eb] = dxb;
      }
    }
    barrier();
    if (owns) {
      const uint y_at = pc.y_offset + b * pc.y_stride_b + h * pc.y_stride_h + s * pc.y_stride_s + 2u * t;
      const vec2 v = vec2(row_sh[2u * t], row_sh[2u * t + 1u]);
      if (DTYPE == DTYPE_F16) {
        y_words[y_at >> 1u] = packHalf2x16(v);
      } else if (DTYPE == DTYPE_BF16) {
        y_words[y_at >> 1u] = pack_bf16x2(v);
      } else {
        y_words[y_at] = floatBitsToUint(v.x);
        y_words[y_at + 1u] = floatBitsToUint(v.y);
      }
    }
    barrier();  // row_sh and drow_sh are free for the next row
  }
  if (PASS == QK_PASS_BACKWARD && WEIGHT_GRAD != 0u && owns) {
    parts[gl_WorkGroupID.x * HEAD_DIM + ea] = dwa;
    parts[gl_WorkGroupID.x * HEAD_DIM + eb] = dwb;
  }
}
