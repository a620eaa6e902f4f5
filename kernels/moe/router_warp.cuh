// The router's per-token work, one warp per token: the softmax of a row of logits and the top-k
// choice over it. Shared by the forward (gate.cu) and its backward (backward_kernels.cu), which
// re-derives the forward's choice, so both pick the same experts by construction.
#pragma once

#include <cfloat>

namespace moesim::kernels::router {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxExperts = 1024;
constexpr int kMaxTopK = 32;

// Larger value wins; equal values go to the lower index (the reference's tie rule).
__device__ __forceinline__ void arg_max_merge(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

/// p[e] = softmax(row)[e] for e < experts, by the 32 lanes of one warp; p is the warp's slice of
/// shared memory. Synchronises the warp before returning.
__device__ __forceinline__ void softmax_row(const float* __restrict__ row, int experts, int lane,
                                            float* p) {
  float max = -FLT_MAX;
  for (int e = lane; e < experts; e += 32) max = fmaxf(max, row[e]);
  for (int o = 16; o > 0; o /= 2) max = fmaxf(max, __shfl_xor_sync(0xffffffffU, max, o));
  float sum = 0.0F;
  for (int e = lane; e < experts; e += 32) {
    p[e] = __expf(row[e] - max);
    sum += p[e];
  }
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffU, sum, o);
  const float inv = 1.0F / sum;
  for (int e = lane; e < experts; e += 32) p[e] *= inv;
  __syncwarp();
}

/// The top_k largest entries of p in order (every lane holds kept[j] and kept_index[j]). Each
/// taken entry of p is left at -2, below every probability; a caller that reads p again restores
/// them from kept.
__device__ __forceinline__ void take_top_k(float* p, int experts, int top_k, int lane, float* kept,
                                           int* kept_index) {
  for (int j = 0; j < top_k; ++j) {
    float best = -1.0F;
    int best_index = experts;
    for (int e = lane; e < experts; e += 32) arg_max_merge(best, best_index, p[e], e);
    for (int o = 16; o > 0; o /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffU, best, o);
      const int oi = __shfl_xor_sync(0xffffffffU, best_index, o);
      arg_max_merge(best, best_index, ov, oi);
    }
    kept[j] = best;
    kept_index[j] = best_index;
    __syncwarp();
    if (lane == 0) p[best_index] = -2.0F;  // taken
    __syncwarp();
  }
}

}  // namespace moesim::kernels::router
