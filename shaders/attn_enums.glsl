// attn_enums.glsl — the named values of the enumerated specialization constants (attn_enums.inc).
#ifndef VKATTN_ATTN_ENUMS_GLSL
#define VKATTN_ATTN_ENUMS_GLSL

#define VKATTN_ENUM(NAME, value) const uint NAME = uint(value);
#include "attn_enums.inc"
#undef VKATTN_ENUM

#endif
