// storage.glsl — element access for tensors stored as 32-bit words.
// fp16 tensors are read as pairs through unpackHalf2x16, and bf16 ones by moving each half of a
// word into the top of an fp32 (exact: bf16 is fp32's upper 16 bits), so the scalar path needs
// no 16-bit storage feature; the dtype is a specialization constant, so the branches fold away.
#ifndef VKATTN_STORAGE_GLSL
#define VKATTN_STORAGE_GLSL

#include "attn_enums.glsl"  // DTYPE_F32, DTYPE_F16, DTYPE_BF16

// Element (idx & 1) of a word of two bf16 values, widened exactly.
float bf16_elem(uint word, uint idx) { return uintBitsToFloat((idx & 1u) != 0u ? word & 0xffff0000u : word << 16u); }

// fp32 -> bf16 bits, rounded to nearest even (overflow goes to infinity); NaN stays a quiet NaN.
uint bf16_bits(float x) {
  const uint u = floatBitsToUint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16u) | 0x40u;  // NaN: by its bits (isnan may fold away)
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}

uint pack_bf16x2(vec2 v) { return bf16_bits(v.x) | (bf16_bits(v.y) << 16u); }

// Element `idx` of a word array `words` holding elements of type `dt`, as fp32.
#define LOAD_AS(dt, words, idx)                                              \
  ((dt) == DTYPE_F16    ? unpackHalf2x16(words[(idx) >> 1u])[(idx) & 1u]   \
   : (dt) == DTYPE_BF16 ? bf16_elem(words[(idx) >> 1u], (idx))             \
                        : uintBitsToFloat(words[(idx)]))

// Element `idx` of a Q/K/V/O word array (dtype DTYPE).
#define LOAD_ELEM(words, idx) LOAD_AS(DTYPE, words, idx)

#define LOAD_VEC4(words, idx) \
  vec4(LOAD_ELEM(words, (idx)), LOAD_ELEM(words, (idx) + 1u), LOAD_ELEM(words, (idx) + 2u), LOAD_ELEM(words, (idx) + 3u))

// Stores vec4 `v` as elements idx..idx+3 of a word array of DTYPE elements. For fp16 and bf16,
// idx must be even (checked on the host for outputs), so each word holds two elements of this row
// only.
#define STORE_VEC4(words, idx, v)                                \
  if (DTYPE == DTYPE_F16) {                                      \
    words[(idx) >> 1u] = packHalf2x16((v).xy);                   \
    words[((idx) >> 1u) + 1u] = packHalf2x16((v).zw);            \
  } else if (DTYPE == DTYPE_BF16) {                              \
    words[(idx) >> 1u] = pack_bf16x2((v).xy);                    \
    words[((idx) >> 1u) + 1u] = pack_bf16x2((v).zw);             \
  } else {                                                       \
    words[(idx)] = floatBitsToUint((v).x);                       \
    words[(idx) + 1u] = floatBitsToUint((v).y);                  \
    words[(idx) + 2u] = floatBitsToUint((v).z);                  \
    words[(idx) + 3u] = floatBitsToUint((v).w);                  \
  }

#endif
