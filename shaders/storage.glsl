// storage.glsl — element access for tensors stored as 32-bit words.
// fp16 tensors are read as pairs through unpackHalf2x16, so the scalar path needs no 16-bit
// storage feature; DTYPE (a specialization constant) folds the branch away.
#ifndef VKATTN_STORAGE_GLSL
#define VKATTN_STORAGE_GLSL

#define DTYPE_F32 0u
#define DTYPE_F16 1u

// Element `idx` of a word array `words` holding DTYPE elements, as fp32.
#define LOAD_ELEM(words, idx) \
  (DTYPE == DTYPE_F16 ? unpackHalf2x16(words[(idx) >> 1u])[(idx) & 1u] : uintBitsToFloat(words[(idx)]))

#endif
