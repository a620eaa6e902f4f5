// Backward-pass kernels and the optimizer step of a MoE training iteration: attention backward
// (cuBLAS GEMMs around a softmax backward), activation, layernorm and router backward, the
// combine's backward, and Adam. Each matches a float64 reference in
// kernels/reference/backward_kernels.hpp (tests/kernels/moe_kernels_gpu_test.cpp).
#include "kernels/moe/device_check.hpp"
#include "kernels/moe/router_warp.cuh"

namespace moesim::kernels {
namespace {

using router::kMaxExperts;
using router::kMaxTopK;
using router::kWarpsPerBlock;

constexpr int kRowThreads = 256;
constexpr int kChunkRows = 128;  // rows per partial sum of the layernorm column reductions

// Block-wide sum of one float; every thread gets the result.
__device__ float block_sum(float v) {
  __shared__ float partial[kRowThreads / 32];
  __shared__ float result;
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffU, v, o);
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (threadIdx.x % 32 == 0) partial[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float r = 0.0F;
    for (int w = 0; w < kRowThreads / 32; ++w) r += partial[w];
    result = r;
  }
  __syncthreads();
  const float r = result;
  __syncthreads();  // partial/result are reused by the next call
  return r;
}

template <typename T>
__global__ void softmax_backward_kernel(const T* __restrict__ p, T* __restrict__ d_p,
                                        std::int64_t rows, int cols, float scale) {
  using E = detail::Element<T>;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* pr = p + r * cols;
    T* dr = d_p + r * cols;
    float dot = 0.0F;
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads)
      dot += E::to_float(pr[c]) * E::to_float(dr[c]);
    dot = block_sum(dot);
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      const float pc = E::to_float(pr[c]);
      dr[c] = E::from_float(scale * pc * (E::to_float(dr[c]) - dot));
    }
  }
}

template <typename T>
__global__ void activation_backward_kernel(const T* __restrict__ h1, const T* __restrict__ d_act,
                                           std::int64_t rows, int ffn, bool swiglu,
                                           T* __restrict__ d_h1) {
  using E = detail::Element<T>;
  const std::int64_t total = rows * ffn;
  const int width = swiglu ? 2 * ffn : ffn;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / ffn;
    const int c = static_cast<int>(i % ffn);
    const float g = E::to_float(h1[r * width + c]);
    const float da = E::to_float(d_act[i]);
    if (swiglu) {
      const float up = E::to_float(h1[r * width + ffn + c]);
      const float sig = 1.0F / (1.0F + __expf(-g));
      d_h1[r * width + c] = E::from_float(da * up * sig * (1.0F + g * (1.0F - sig)));
      d_h1[r * width + ffn + c] = E::from_float(da * g * sig);
    } else {
      constexpr float kC = 0.7978845608028654F;  // tanh-approximation GELU, as the forward
      const float t = tanhf(kC * (g + 0.044715F * g * g * g));
      const float dg =
          0.5F * (1.0F + t) + 0.5F * g * (1.0F - t * t) * kC * (1.0F + 0.134145F * g * g);
      d_h1[i] = E::from_float(da * dg);
    }
  }
}

// One block per row: the row's mean and 1/std (kept for the column sums) and dx.
template <typename T>
__global__ void layernorm_dx_kernel(const T* __restrict__ x, const T* __restrict__ gamma,
                                    const T* __restrict__ dy, T* __restrict__ dx,
                                    float* __restrict__ stats, std::int64_t rows, int cols,
                                    float eps) {
  using E = detail::Element<T>;
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    const T* dyr = dy + r * cols;
    float sum = 0.0F;
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads)
      sum += E::to_float(xr[c]);
    const float mean = block_sum(sum) / static_cast<float>(cols);
    float sq = 0.0F;
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      const float d = E::to_float(xr[c]) - mean;
      sq += d * d;
    }
    const float inv = rsqrtf(block_sum(sq) / static_cast<float>(cols) + eps);
    float s1 = 0.0F;
    float s2 = 0.0F;
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      const float dyh = E::to_float(dyr[c]) * E::to_float(gamma[c]);
      s1 += dyh;
      s2 += dyh * (E::to_float(xr[c]) - mean) * inv;
    }
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    const float n = static_cast<float>(cols);
    for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
      const float xhat = (E::to_float(xr[c]) - mean) * inv;
      const float dyh = E::to_float(dyr[c]) * E::to_float(gamma[c]);
      dx[r * cols + c] = E::from_float(inv / n * (n * dyh - s1 - xhat * s2));
    }
    if (threadIdx.x == 0) {
      stats[2 * r] = mean;
      stats[2 * r + 1] = inv;
    }
  }
}

// Column partial sums over one chunk of rows: grid (column blocks, chunks).
template <typename T>
__global__ void layernorm_partials_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                          const float* __restrict__ stats, std::int64_t rows,
                                          int cols, float* __restrict__ partial_gamma,
                                          float* __restrict__ partial_beta) {
  using E = detail::Element<T>;
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= cols) return;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * kChunkRows;
  const std::int64_t last = first + kChunkRows < rows ? first + kChunkRows : rows;
  float g = 0.0F;
  float b = 0.0F;
  for (std::int64_t r = first; r < last; ++r) {
    const float d = E::to_float(dy[r * cols + c]);
    g += d * (E::to_float(x[r * cols + c]) - stats[2 * r]) * stats[2 * r + 1];
    b += d;
  }
  partial_gamma[static_cast<std::int64_t>(blockIdx.y) * cols + c] = g;
  partial_beta[static_cast<std::int64_t>(blockIdx.y) * cols + c] = b;
}

__global__ void sum_partials_kernel(const float* __restrict__ partial_gamma,
                                    const float* __restrict__ partial_beta, int chunks, int cols,
                                    float* __restrict__ dgamma, float* __restrict__ dbeta) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= cols) return;
  float g = 0.0F;
  float b = 0.0F;
  for (int k = 0; k < chunks; ++k) {
    g += partial_gamma[static_cast<std::int64_t>(k) * cols + c];
    b += partial_beta[static_cast<std::int64_t>(k) * cols + c];
  }
  dgamma[c] = g;
  dbeta[c] = b;
}

// One warp per token: softmax, the forward's top-k choice, then d_logits = p * (g - g.p).
__global__ void softmax_topk_backward_kernel(const float* __restrict__ logits,
                                             const float* __restrict__ d_topk_prob, int tokens,
                                             int experts, int top_k, float* __restrict__ d_logits) {
  extern __shared__ float probs[];  // kWarpsPerBlock x experts
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int token = static_cast<int>(blockIdx.x) * kWarpsPerBlock + warp;
  if (token >= tokens) return;
  float* p = probs + warp * experts;
  const float* row = logits + static_cast<std::int64_t>(token) * experts;
  router::softmax_row(row, experts, lane, p);
  float kept[kMaxTopK];
  int kept_index[kMaxTopK];
  router::take_top_k(p, experts, top_k, lane, kept, kept_index);
  float dot = 0.0F;
  for (int j = 0; j < top_k; ++j) {
    dot += kept[j] * d_topk_prob[static_cast<std::int64_t>(token) * top_k + j];
  }
  if (lane == 0) {
    for (int j = 0; j < top_k; ++j) p[kept_index[j]] = kept[j];  // restore
  }
  __syncwarp();
  float* out = d_logits + static_cast<std::int64_t>(token) * experts;
  for (int e = lane; e < experts; e += 32) {
    float g = 0.0F;
    for (int j = 0; j < top_k; ++j) {
      if (kept_index[j] == e) g = d_topk_prob[static_cast<std::int64_t>(token) * top_k + j];
    }
    out[e] = p[e] * (g - dot);
  }
}

template <typename T>
__global__ void unpermute_backward_kernel(const T* __restrict__ dy,
                                          const T* __restrict__ expert_out,
                                          const int* __restrict__ dest_row,
                                          const float* __restrict__ prob, int tokens, int top_k,
                                          int hidden, T* __restrict__ d_expert_out,
                                          float* __restrict__ d_prob) {
  using E = detail::Element<T>;
  for (int t = static_cast<int>(blockIdx.x); t < tokens; t += static_cast<int>(gridDim.x)) {
    for (int j = 0; j < top_k; ++j) {
      const int a = t * top_k + j;
      const int row = dest_row[a];  // uniform over the block
      if (row < 0) {
        if (threadIdx.x == 0) d_prob[a] = 0.0F;
        continue;
      }
      float dot = 0.0F;
      for (int c = static_cast<int>(threadIdx.x); c < hidden; c += kRowThreads) {
        const float d = E::to_float(dy[static_cast<std::int64_t>(t) * hidden + c]);
        const std::int64_t at = static_cast<std::int64_t>(row) * hidden + c;
        d_expert_out[at] = E::from_float(prob[a] * d);
        dot += d * E::to_float(expert_out[at]);
      }
      dot = block_sum(dot);
      if (threadIdx.x == 0) d_prob[a] = dot;
    }
  }
}

template <typename T>
__global__ void adam_kernel(const T* __restrict__ grad, float* __restrict__ master,
                            float* __restrict__ m, float* __restrict__ v, T* __restrict__ weights,
                            std::int64_t n, float lr, float beta1, float beta2, float eps,
                            float correction1, float correction2) {
  using E = detail::Element<T>;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float g = E::to_float(grad[i]);
    const float mi = beta1 * m[i] + (1.0F - beta1) * g;
    const float vi = beta2 * v[i] + (1.0F - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float w = master[i] - lr * (mi / correction1) / (sqrtf(vi / correction2) + eps);
    master[i] = w;
    weights[i] = E::from_float(w);
  }
}

}  // namespace

void softmax_rows_backward(ElementType type, const void* p, void* d_p, std::int64_t rows, int cols,
                           float scale, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(cols >= 1, "softmax_rows_backward: cols >= 1");
  if (rows <= 0) return;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    softmax_backward_kernel<T><<<detail::grid_for(rows, 1), kRowThreads, 0, stream>>>(
        static_cast<const T*>(p), static_cast<T*>(d_p), rows, cols, scale);
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void attention_backward(BlasHandle& blas, ElementType type, int batch, int seq, int head_dim,
                        const void* q, const void* k, const void* v, const void* d_o, void* scores,
                        void* d_scores, void* dq, void* dk, void* dv, float scale, bool causal,
                        cudaStream_t stream) {
  const std::int64_t qkv = static_cast<std::int64_t>(seq) * head_dim;
  const std::int64_t ss = static_cast<std::int64_t>(seq) * seq;
  // P = softmax(scale Q K^T), recomputed as FlashAttention's backward does instead of stored.
  gemm_strided_batched(blas, type, seq, seq, head_dim, batch, q, qkv, k, qkv, scores, ss, stream,
                       /*b_transposed=*/true);
  softmax_rows(type, scores, scores, static_cast<std::int64_t>(batch) * seq, seq, scale, causal,
               seq, stream);
  // dV = P^T dO; dP = dO V^T; dS = scale P (dP - rowsum(dP P)); dQ = dS K; dK = dS^T Q.
  gemm_strided_batched(blas, type, seq, head_dim, seq, batch, scores, ss, d_o, qkv, dv, qkv, stream,
                       false, /*a_transposed=*/true);
  gemm_strided_batched(blas, type, seq, seq, head_dim, batch, d_o, qkv, v, qkv, d_scores, ss,
                       stream,
                       /*b_transposed=*/true);
  softmax_rows_backward(type, scores, d_scores, static_cast<std::int64_t>(batch) * seq, seq, scale,
                        stream);
  gemm_strided_batched(blas, type, seq, head_dim, seq, batch, d_scores, ss, k, qkv, dq, qkv,
                       stream);
  gemm_strided_batched(blas, type, seq, head_dim, seq, batch, d_scores, ss, q, qkv, dk, qkv, stream,
                       false, /*a_transposed=*/true);
}

void activation_backward(ElementType type, Activation activation, const void* h1, const void* d_act,
                         std::int64_t rows, int ffn, void* d_h1, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(ffn >= 1, "activation_backward: ffn >= 1");
  if (rows <= 0) return;
  const bool swiglu = activation == Activation::swiglu;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    activation_backward_kernel<T><<<detail::grid_for(rows * ffn, 256), 256, 0, stream>>>(
        static_cast<const T*>(h1), static_cast<const T*>(d_act), rows, ffn, swiglu,
        static_cast<T*>(d_h1));
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

std::size_t layernorm_backward_workspace_bytes(std::int64_t rows, int cols) {
  const std::int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  return sizeof(float) * static_cast<std::size_t>(2 * rows + 2 * chunks * cols);
}

void layernorm_backward(ElementType type, const void* x, const void* gamma, const void* dy,
                        void* dx, float* dgamma, float* dbeta, std::int64_t rows, int cols,
                        float eps, void* workspace, std::size_t workspace_bytes,
                        cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(cols >= 1, "layernorm_backward: cols >= 1");
  MOESIM_KERNEL_REQUIRE(workspace_bytes >= layernorm_backward_workspace_bytes(rows, cols),
                        "layernorm_backward: workspace smaller than the workspace_bytes() size");
  if (rows <= 0) return;
  const std::int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  MOESIM_KERNEL_REQUIRE(chunks <= 65535, "layernorm_backward: at most 65535 * 128 rows");
  auto* stats = static_cast<float*>(workspace);
  float* partial_gamma = stats + 2 * rows;
  float* partial_beta = partial_gamma + chunks * cols;
  const dim3 grid(static_cast<unsigned>((cols + 255) / 256), static_cast<unsigned>(chunks));
  MOESIM_DISPATCH_ELEMENT(type, T, {
    layernorm_dx_kernel<T><<<detail::grid_for(rows, 1), kRowThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(dy),
        static_cast<T*>(dx), stats, rows, cols, eps);
    layernorm_partials_kernel<T><<<grid, 256, 0, stream>>>(static_cast<const T*>(x),
                                                           static_cast<const T*>(dy), stats, rows,
                                                           cols, partial_gamma, partial_beta);
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
  sum_partials_kernel<<<static_cast<unsigned>((cols + 255) / 256), 256, 0, stream>>>(
      partial_gamma, partial_beta, static_cast<int>(chunks), cols, dgamma, dbeta);
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void softmax_topk_backward(const float* logits, const float* d_topk_prob, int tokens, int experts,
                           int top_k, float* d_logits, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(experts >= 1 && experts <= kMaxExperts,
                        "softmax_topk_backward: experts in [1, 1024]");
  MOESIM_KERNEL_REQUIRE(top_k >= 1 && top_k <= experts && top_k <= kMaxTopK,
                        "softmax_topk_backward: top_k in [1, min(experts, 32)]");
  if (tokens <= 0) return;
  const unsigned blocks = static_cast<unsigned>((tokens + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const std::size_t shared = sizeof(float) * kWarpsPerBlock * static_cast<std::size_t>(experts);
  softmax_topk_backward_kernel<<<blocks, kWarpsPerBlock * 32, shared, stream>>>(
      logits, d_topk_prob, tokens, experts, top_k, d_logits);
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void unpermute_backward(ElementType type, const void* dy, const void* expert_out,
                        const int* dest_row, const float* topk_prob, int tokens, int top_k,
                        int hidden, void* d_expert_out, int out_rows, float* d_prob,
                        cudaStream_t stream) {
  MOESIM_DEVICE_CHECK(cudaMemsetAsync(
      d_expert_out, 0,
      static_cast<std::size_t>(out_rows) * static_cast<std::size_t>(hidden) * element_bytes(type),
      stream));
  if (tokens <= 0) return;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    unpermute_backward_kernel<T><<<detail::grid_for(tokens, 1), kRowThreads, 0, stream>>>(
        static_cast<const T*>(dy), static_cast<const T*>(expert_out), dest_row, topk_prob, tokens,
        top_k, hidden, static_cast<T*>(d_expert_out), d_prob);
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void adam_step(ElementType type, const void* grad, float* master, float* m, float* v, void* weights,
               std::int64_t n, const AdamConfig& config, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(config.step >= 1, "adam_step: step >= 1");
  if (n <= 0) return;
  const float c1 = 1.0F - powf(config.beta1, static_cast<float>(config.step));
  const float c2 = 1.0F - powf(config.beta2, static_cast<float>(config.step));
  MOESIM_DISPATCH_ELEMENT(type, T, {
    adam_kernel<T><<<detail::grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const T*>(grad), master, m, v, static_cast<T*>(weights), n, config.lr,
        config.beta1, config.beta2, config.eps, c1, c2);
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

}  // namespace moesim::kernels
