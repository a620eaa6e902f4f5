// Dense parts of a transformer layer: row softmax (optionally causal), attention built from two
// strided-batched cuBLAS GEMMs around it, and layernorm. One block per row, fp32 statistics.
#include <cfloat>

#include "kernels/moe/device_check.hpp"

namespace moesim::kernels {
namespace {

constexpr int kRowThreads = 256;

// Block-wide reduction of one float; `op` is max or sum. All threads get the result.
template <bool kMax>
__device__ float block_reduce(float v) {
  __shared__ float partial[kRowThreads / 32];
  __shared__ float result;
  for (int o = 16; o > 0; o /= 2) {
    const float other = __shfl_xor_sync(0xffffffffU, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (threadIdx.x % 32 == 0) partial[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float r = partial[0];
    for (int w = 1; w < kRowThreads / 32; ++w) r = kMax ? fmaxf(r, partial[w]) : r + partial[w];
    result = r;
  }
  __syncthreads();
  const float r = result;
  __syncthreads();  // `partial`/`result` are reused by the next call
  return r;
}

template <typename T>
__global__ void softmax_rows_kernel(const T* in, T* out, std::int64_t rows, int cols, float scale,
                                    bool causal, int rows_per_batch) {
  using E = detail::Element<T>;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int last = causal ? min(cols - 1, static_cast<int>(r % rows_per_batch)) : cols - 1;
    const T* row = in + r * cols;
    float max = -FLT_MAX;
    for (int c = static_cast<int>(threadIdx.x); c <= last; c += kRowThreads)
      max = fmaxf(max, scale * E::to_float(row[c]));
    max = block_reduce<true>(max);
    float sum = 0.0F;
    for (int c = static_cast<int>(threadIdx.x); c <= last; c += kRowThreads)
      sum += __expf(scale * E::to_float(row[c]) - max);
    sum = block_reduce<false>(sum);
    const float inv = 1.0F / sum;
    T* o = out + r * cols;
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      o[c] = E::from_float(c <= last ? __expf(scale * E::to_float(row[c]) - max) * inv : 0.0F);
    }
  }
}

template <typename T>
__global__ void layernorm_kernel(const T* __restrict__ x, const T* __restrict__ gamma,
                                 const T* __restrict__ beta, T* __restrict__ y, std::int64_t rows,
                                 int cols, float eps) {
  using E = detail::Element<T>;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = x + r * cols;
    float sum = 0.0F;
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads)
      sum += E::to_float(row[c]);
    const float mean = block_reduce<false>(sum) / static_cast<float>(cols);
    float sq = 0.0F;  // two passes: no catastrophic cancellation for large means
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      const float d = E::to_float(row[c]) - mean;
      sq += d * d;
    }
    const float inv = rsqrtf(block_reduce<false>(sq) / static_cast<float>(cols) + eps);
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      y[r * cols + c] = E::from_float((E::to_float(row[c]) - mean) * inv * E::to_float(gamma[c]) +
                                      E::to_float(beta[c]));
    }
  }
}

}  // namespace

void softmax_rows(ElementType type, const void* in, void* out, std::int64_t rows, int cols,
                  float scale, bool causal, int rows_per_batch, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(cols >= 1 && rows_per_batch >= 1,
                        "softmax_rows: cols, rows_per_batch >= 1");
  if (rows <= 0) return;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    softmax_rows_kernel<T><<<detail::grid_for(rows, 1), kRowThreads, 0, stream>>>(
        static_cast<const T*>(in), static_cast<T*>(out), rows, cols, scale, causal, rows_per_batch);
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void attention_forward(BlasHandle& blas, ElementType type, int batch, int seq, int head_dim,
                       const void* q, const void* k, const void* v, void* scores, void* o,
                       float scale, bool causal, cudaStream_t stream) {
  const std::int64_t qkv_stride = static_cast<std::int64_t>(seq) * head_dim;
  const std::int64_t s_stride = static_cast<std::int64_t>(seq) * seq;
  gemm_strided_batched(blas, type, seq, seq, head_dim, batch, q, qkv_stride, k, qkv_stride, scores,
                       s_stride, stream, /*b_transposed=*/true);
  softmax_rows(type, scores, scores, static_cast<std::int64_t>(batch) * seq, seq, scale, causal,
               seq, stream);
  gemm_strided_batched(blas, type, seq, head_dim, seq, batch, scores, s_stride, v, qkv_stride, o,
                       qkv_stride, stream);
}

void layernorm(ElementType type, const void* x, const void* gamma, const void* beta, void* y,
               std::int64_t rows, int cols, float eps, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(cols >= 1, "layernorm: cols >= 1");
  if (rows <= 0) return;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    layernorm_kernel<T><<<detail::grid_for(rows, 1), kRowThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta),
        static_cast<T*>(y), rows, cols, eps);
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

}  // namespace moesim::kernels
