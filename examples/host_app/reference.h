/* reference.h — the examples' check: causal attention in double precision on the CPU. */
#ifndef VKATTN_EXAMPLES_REFERENCE_H
#define VKATTN_EXAMPLES_REFERENCE_H

#ifdef __cplusplus
extern "C" {
#endif

/* The largest |o - o_factor * attention(q_factor * q, k, v)| over dense [heads, s, d] tensors,
 * causal (Sq = Sk), softmax scale 1/sqrt(d). */
double causal_attention_error(const float* q, const float* k, const float* v, const float* o, int heads, int s, int d,
                              double q_factor, double o_factor);

#ifdef __cplusplus
}
#endif

#endif
