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
// Work layout: ROW_LANES invocations per row (lane k owns pairs k, k + ROW_LANES, ... and words k,
// k + ROW_LANES, ... of the row: PER_LANE of each, about four, so that a lane has that many loads in
// flight), so a workgroup of WORKGROUP_SIZE invocations has ROWS = WORKGROUP_SIZE / ROW_LANES rows in
// flight: slot r holds token (b, s) number ROWS x + r of the B * S (x: the workgroup's x), and the
// workgroup walks heads_per_group heads (from y heads_per_group) one step each, so a lane computes
// its pairs' rotations once for all those heads. Each step has three barriers (four in the
// backward): lanes put their words into shared memory (loaded one step ahead, so
// the next step's loads are in flight while this one is transformed) and their part of the sum
// of squares; every lane of a row adds the row's parts in one fixed order (so the row's r does not
// depend on the device's subgroups); lane k transforms pair k in place; lanes write their words
// back (every word of an fp16 row has one writer). The backward's dweight part of a lane (its pairs'
// elements) stays in registers across the workgroup's rows; at the end the slots' parts are added
// in slot order into parts[group], group = y * (workgroups in x) + x. The reduce pass (PASS = QK_PASS_REDUCE, one workgroup per
// element e) sums element e of the parts in a fixed strided order and a fixed tree: deterministic.

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
const uint ROWS = WORKGROUP_SIZE / ROW_LANES;  // rows in flight per workgroup
const uint PER_LANE = (PAIRS + ROW_LANES - 1u) / ROW_LANES;  // pairs (and words) per lane at most
shared float row_sh[ROWS * HEAD_DIM];   // slot r's row at r * HEAD_DIM: x, then the transformed row (dx)
shared float drow_sh[ROWS * HEAD_DIM];  // backward: dY
shared float part_sh[ROWS * ROW_LANES]; // each lane's part of a row sum
shared float sum_sh[WORKGROUP_SIZE];    // the reduce pass's tree

// The sum of slot `slot`'s parts in part_sh, in one fixed order (four interleaved partial sums,
// then those in order); every lane of the row computes the same value. Call after a barrier.
float row_sum(uint slot) {
  vec4 acc = vec4(0.0);
  [[unroll]] for (uint j = 0u; j < ROW_LANES; j += 4u) {
    acc += vec4(part_sh[slot * ROW_LANES + j], part_sh[slot * ROW_LANES + j + 1u], part_sh[slot * ROW_LANES + j + 2u],
                part_sh[slot * ROW_LANES + j + 3u]);
  }
  return (acc.x + acc.y) + (acc.z + acc.w);
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

// The raw words of the element pair that starts at element `at` of a word array: fp32, its two
// words; fp16 and bf16, the word holding it, and the next one when `at` is odd (the pair then
// straddles two words).
#define LOAD_PAIR_RAW(words, at)                         \
  (DTYPE == DTYPE_F32 ? uvec2(words[(at)], words[(at) + 1u]) \
                      : uvec2(words[(at) >> 1u], ((at) & 1u) != 0u ? words[((at) >> 1u) + 1u] : 0u))

// The pair's two values from LOAD_PAIR_RAW's words.
vec2 pair_value(uvec2 raw, uint at) {
  if (DTYPE == DTYPE_F32) return uintBitsToFloat(raw);
  const bool odd = (at & 1u) != 0u;
  if (DTYPE == DTYPE_F16) {
    const vec2 a = unpackHalf2x16(raw.x);
    return odd ? vec2(a.y, unpackHalf2x16(raw.y).x) : a;
  }
  return odd ? vec2(bf16_elem(raw.x, 1u), bf16_elem(raw.y, 0u)) : vec2(bf16_elem(raw.x, 0u), bf16_elem(raw.x, 1u));
}

// The first element of row (b, h, s) in x and dY.
uint x_row_at(uint b, uint h, uint s) { return pc.x_offset + b * pc.x_stride_b + h * pc.x_stride_h + s * pc.x_stride_s; }
uint dy_row_at(uint b, uint h, uint s) { return pc.dy_offset + b * pc.dy_stride_b + h * pc.dy_stride_h + s * pc.dy_stride_s; }

// This lane's words of row (b, h, s) (words w = lane + i ROW_LANES: elements 2w, 2w + 1), raw: the
// loads are issued one step ahead and stay in flight while the current step is transformed.
void fetch_row(uint b, uint h, uint s, bool live, uint lane, out uvec2 x_raw[PER_LANE], out uvec2 dy_raw[PER_LANE]) {
  const uint x_at = x_row_at(b, h, s), dy_at = dy_row_at(b, h, s);
  [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
    const uint w = lane + i * ROW_LANES;
    x_raw[i] = uvec2(0u);
    dy_raw[i] = uvec2(0u);
    if (live && w < PAIRS) {
      x_raw[i] = LOAD_PAIR_RAW(x_words, x_at + 2u * w);
      if (PASS == QK_PASS_BACKWARD) dy_raw[i] = LOAD_PAIR_RAW(dy_words, dy_at + 2u * w);
    }
  }
}

void main() {
  const uint t = gl_LocalInvocationID.x;
  if (PASS == QK_PASS_REDUCE) {  // dweight[e] = sum over groups of parts[g][e]; workgroup e
    const uint e = gl_WorkGroupID.x;
    float acc = 0.0;
    for (uint g = t; g < pc.groups; g += WORKGROUP_SIZE) acc += parts[g * HEAD_DIM + e];
    sum_sh[t] = acc;
    barrier();
    [[unroll]] for (uint k = WORKGROUP_SIZE / 2u; k > 0u; k /= 2u) {
      if (t < k) sum_sh[t] += sum_sh[t + k];
      barrier();
    }
    if (t == 0u) dweight[pc.dweight_offset + e] = sum_sh[0];
    return;
  }
  const uint lane = t % ROW_LANES, slot = t / ROW_LANES;
  const uint at = slot * HEAD_DIM;  // the slot's row in row_sh and drow_sh
  // This lane's pairs k = lane + i ROW_LANES: elements ea, eb, their weights; dweight parts.
  uvec4 pair[PER_LANE];
  uint ea[PER_LANE], eb[PER_LANE];
  float wa[PER_LANE], wb[PER_LANE], dwa[PER_LANE], dwb[PER_LANE];
  [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
    const uint k = lane + i * ROW_LANES;
    pair[i] = k < PAIRS ? pairs[k] : uvec4(0u);
    ea[i] = pair[i].x & 0xFFFFu;
    eb[i] = pair[i].x >> 16u;
    wa[i] = k < PAIRS ? weight_of(ea[i]) : 0.0;
    wb[i] = k < PAIRS ? weight_of(eb[i]) : 0.0;
    dwa[i] = 0.0;
    dwb[i] = 0.0;
  }
  // The slot's token (b, s) and this lane's rotations there (the same for every head).
  const uint token = gl_WorkGroupID.x * ROWS + slot;
  const bool live = token < pc.tokens;
  const uint b = token / pc.seq, s = token % pc.seq;
  vec2 cs[PER_LANE];
  [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
    cs[i] = live && lane + i * ROW_LANES < PAIRS ? rotation(pair[i], b, s) : vec2(1.0, 0.0);
  }
  const uint h0 = gl_WorkGroupID.y * pc.heads_per_group;
  const uint h_end = min(h0 + pc.heads_per_group, pc.heads);
  uvec2 x_next[PER_LANE], dy_next[PER_LANE];
  fetch_row(b, h0, s, live, lane, x_next, dy_next);
  for (uint h = h0; h < h_end; ++h) {  // uniform: every invocation meets the barriers
    uvec2 x_raw[PER_LANE], dy_raw[PER_LANE];
    [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) x_raw[i] = x_next[i], dy_raw[i] = dy_next[i];
    fetch_row(b, h + 1u, s, live && h + 1u < h_end, lane, x_next, dy_next);  // the next step's, in flight
    // 1. Words w = lane + i ROW_LANES of the row (elements 2w, 2w + 1) into shared memory.
    float sq = 0.0;
    if (live) {
      const uint x_at = x_row_at(b, h, s), dy_at = dy_row_at(b, h, s);
      [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
        const uint w = lane + i * ROW_LANES;
        if (w < PAIRS) {
          const vec2 x = pair_value(x_raw[i], x_at + 2u * w);
          row_sh[at + 2u * w] = x.x;
          row_sh[at + 2u * w + 1u] = x.y;
          sq += x.x * x.x + x.y * x.y;
          if (PASS == QK_PASS_BACKWARD) {
            const vec2 dy = pair_value(dy_raw[i], dy_at + 2u * w);
            drow_sh[at + 2u * w] = dy.x;
            drow_sh[at + 2u * w + 1u] = dy.y;
          }
        }
      }
    }
    part_sh[slot * ROW_LANES + lane] = sq;
    barrier();
    // 2. r (and the scale the normalized row gets) from the row's sum of squares, then each pair.
    const float total = NORM != QK_NORM_NONE ? row_sum(slot) : 0.0;
    const float norm = sqrt(total);
    const float r = NORM == QK_NORM_RMS ? sqrt(total / float(HEAD_DIM) + pc.eps) : max(norm, pc.eps);
    const float inv_r = NORM == QK_NORM_NONE ? 1.0 : 1.0 / r;
    const float gain = NORM == QK_NORM_L2 ? pc.scale : 1.0;  // L2's scale; RMS's weight is per element
    if (PASS == QK_PASS_FORWARD) {
      [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
        if (live && lane + i * ROW_LANES < PAIRS) {
          const float na = row_sh[at + ea[i]] * inv_r * gain * wa[i], nb = row_sh[at + eb[i]] * inv_r * gain * wb[i];
          row_sh[at + ea[i]] = na * cs[i].x - nb * cs[i].y;
          row_sh[at + eb[i]] = na * cs[i].y + nb * cs[i].x;
        }
      }
    } else {
      // dn = R(-phi) dY; u = x / r; RMS: du = dn o w, dot = du . u; L2: dot = dn . u.
      float dna[PER_LANE], dnb[PER_LANE], ua[PER_LANE], ub[PER_LANE];
      float part = 0.0;
      [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
        dna[i] = 0.0, dnb[i] = 0.0, ua[i] = 0.0, ub[i] = 0.0;
        if (live && lane + i * ROW_LANES < PAIRS) {
          const float dya = drow_sh[at + ea[i]], dyb = drow_sh[at + eb[i]];
          dna[i] = dya * cs[i].x + dyb * cs[i].y;
          dnb[i] = -dya * cs[i].y + dyb * cs[i].x;
          ua[i] = row_sh[at + ea[i]] * inv_r;
          ub[i] = row_sh[at + eb[i]] * inv_r;
        }
        part += NORM == QK_NORM_RMS ? dna[i] * wa[i] * ua[i] + dnb[i] * wb[i] * ub[i] : dna[i] * ua[i] + dnb[i] * ub[i];
      }
      barrier();  // every lane has read its row's sum of squares from part_sh
      part_sh[slot * ROW_LANES + lane] = part;
      barrier();
      const float dot = NORM != QK_NORM_NONE ? row_sum(slot) : 0.0;
      [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
        if (live && lane + i * ROW_LANES < PAIRS) {
          const float dua = dna[i] * wa[i] * gain, dub = dnb[i] * wb[i] * gain;
          float dxa = dna[i], dxb = dnb[i];
          if (NORM == QK_NORM_RMS) {
            dxa = (dua - ua[i] * dot / float(HEAD_DIM)) * inv_r;
            dxb = (dub - ub[i] * dot / float(HEAD_DIM)) * inv_r;
            dwa[i] += dna[i] * ua[i];
            dwb[i] += dnb[i] * ub[i];
          } else if (NORM == QK_NORM_L2) {
            const bool clamped = norm <= pc.eps;  // r = eps: the scale is constant there
            dxa = gain * (clamped ? dna[i] : dna[i] - ua[i] * dot) * inv_r;
            dxb = gain * (clamped ? dnb[i] : dnb[i] - ub[i] * dot) * inv_r;
          }
          row_sh[at + ea[i]] = dxa;
          row_sh[at + eb[i]] = dxb;
        }
      }
    }
    barrier();
    // 3. The lane's words back out.
    if (live) {
      const uint y_at = pc.y_offset + b * pc.y_stride_b + h * pc.y_stride_h + s * pc.y_stride_s;
      [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
        const uint w = lane + i * ROW_LANES;
        if (w < PAIRS) {
          const vec2 v = vec2(row_sh[at + 2u * w], row_sh[at + 2u * w + 1u]);
          const uint y = y_at + 2u * w;
          if (DTYPE == DTYPE_F16) {
            y_words[y >> 1u] = packHalf2x16(v);
          } else if (DTYPE == DTYPE_BF16) {
            y_words[y >> 1u] = pack_bf16x2(v);
          } else {
            y_words[y] = floatBitsToUint(v.x);
            y_words[y + 1u] = floatBitsToUint(v.y);
          }
        }
      }
    }
    barrier();  // row_sh, drow_sh and part_sh are free for the next rows
  }
  if (PASS == QK_PASS_BACKWARD && WEIGHT_GRAD != 0u) {
    // This workgroup's dweight: each slot's parts (every element has one owner per slot), then the
    // slots in order.
    [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
      if (lane + i * ROW_LANES < PAIRS) {
        row_sh[at + ea[i]] = dwa[i];
        row_sh[at + eb[i]] = dwb[i];
      }
    }
    barrier();
    for (uint e = t; e < HEAD_DIM; e += WORKGROUP_SIZE) {
      float acc = 0.0;
      for (uint r = 0u; r < ROWS; ++r) acc += row_sh[r * HEAD_DIM + e];
      parts[(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * HEAD_DIM + e] = acc;
    }
  }
}
