#include "reference.h"

#include <math.h>
#include <stdlib.h>

double causal_attention_error(const float* q, const float* k, const float* v, const float* o, int heads, int s, int d,
                              double q_factor, double o_factor) {
  const double scale = 1.0 / sqrt((double)d);
  double worst = 0.0;
  double* p = (double*)malloc(sizeof(double) * (size_t)s);
  int h, i, j, e;
  if (p == NULL) return INFINITY;
  for (h = 0; h < heads; ++h) {
    for (i = 0; i < s; ++i) {
      double top = -INFINITY, sum = 0.0;
      for (j = 0; j <= i; ++j) { /* causal: keys up to the query's own position */
        double dot = 0.0;
        for (e = 0; e < d; ++e) dot += q_factor * q[(h * s + i) * d + e] * k[(h * s + j) * d + e];
        p[j] = dot * scale;
        if (p[j] > top) top = p[j];
      }
      for (j = 0; j <= i; ++j) sum += (p[j] = exp(p[j] - top));
      for (e = 0; e < d; ++e) {
        double ref = 0.0, err;
        for (j = 0; j <= i; ++j) ref += p[j] / sum * v[(h * s + j) * d + e];
        err = fabs(o_factor * ref - o[(h * s + i) * d + e]);
        if (!(err <= worst)) worst = err;
      }
    }
  }
  free(p);
  return worst;
}
