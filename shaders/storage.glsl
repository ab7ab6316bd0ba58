// storage.glsl — element access for tensors stored as 32-bit words.
// fp16 tensors are read as pairs through unpackHalf2x16, so the scalar path needs no 16-bit
// storage feature; the dtype is a specialization constant, so the branch folds away.
#ifndef VKATTN_STORAGE_GLSL
#define VKATTN_STORAGE_GLSL

#include "attn_enums.glsl"  // DTYPE_F32, DTYPE_F16

// Element `idx` of a word array `words` holding elements of type `dt`, as fp32.
#define LOAD_AS(dt, words, idx) \
  ((dt) == DTYPE_F16 ? unpackHalf2x16(words[(idx) >> 1u])[(idx) & 1u] : uintBitsToFloat(words[(idx)]))

// Element `idx` of a Q/K/V/O word array (dtype DTYPE).
#define LOAD_ELEM(words, idx) LOAD_AS(DTYPE, words, idx)

#define LOAD_VEC4(words, idx) \
  vec4(LOAD_ELEM(words, (idx)), LOAD_ELEM(words, (idx) + 1u), LOAD_ELEM(words, (idx) + 2u), LOAD_ELEM(words, (idx) + 3u))

// Stores vec4 `v` as elements idx..idx+3 of a word array of DTYPE elements. For fp16, idx must be
// even (checked on the host for outputs), so each word holds two elements of this row only.
#define STORE_VEC4(words, idx, v)                                \
  if (DTYPE == DTYPE_F16) {                                      \
    words[(idx) >> 1u] = packHalf2x16((v).xy);                   \
    words[((idx) >> 1u) + 1u] = packHalf2x16((v).zw);            \
  } else {                                                       \
    words[(idx)] = floatBitsToUint((v).x);                       \
    words[(idx) + 1u] = floatBitsToUint((v).y);                  \
    words[(idx) + 2u] = floatBitsToUint((v).z);                  \
    words[(idx) + 3u] = floatBitsToUint((v).w);                  \
  }

#endif
