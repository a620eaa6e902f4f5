// Router: the gate GEMM (cuBLAS, fp32 logits) and a fused softmax + top-k, one warp per token.
#include <cfloat>

#include "kernels/moe/blas_handle_impl.hpp"
#include "kernels/moe/device_check.hpp"

namespace moesim::kernels {
namespace {

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

__global__ void softmax_topk_kernel(const float* __restrict__ logits, int tokens, int experts,
                                    int top_k, int* __restrict__ topk_expert,
                                    float* __restrict__ topk_prob, bool normalize) {
  extern __shared__ float probs[];  // kWarpsPerBlock x experts
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int token = static_cast<int>(blockIdx.x) * kWarpsPerBlock + warp;
  if (token >= tokens) return;
  float* p = probs + warp * experts;
  const float* row = logits + static_cast<std::int64_t>(token) * experts;

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

  float kept_sum = 0.0F;
  float kept[kMaxTopK];
  int kept_index[kMaxTopK];
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
    kept_sum += best;
    __syncwarp();
    if (lane == 0) p[best_index] = -2.0F;  // taken: below every probability
    __syncwarp();
  }
  if (lane == 0) {
    const float scale = normalize ? 1.0F / kept_sum : 1.0F;
    for (int j = 0; j < top_k; ++j) {
      topk_expert[static_cast<std::int64_t>(token) * top_k + j] = kept_index[j];
      topk_prob[static_cast<std::int64_t>(token) * top_k + j] = kept[j] * scale;
    }
  }
}

}  // namespace

void softmax_topk(const float* logits, int tokens, int experts, int top_k, int* topk_expert,
                  float* topk_prob, bool normalize, cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(experts >= 1 && experts <= kMaxExperts,
                        "softmax_topk: experts in [1, 1024]");
  MOESIM_KERNEL_REQUIRE(top_k >= 1 && top_k <= experts && top_k <= kMaxTopK,
                        "softmax_topk: top_k in [1, min(experts, 32)]");
  if (tokens <= 0) return;
  const unsigned blocks = static_cast<unsigned>((tokens + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const std::size_t shared = sizeof(float) * kWarpsPerBlock * static_cast<std::size_t>(experts);
  softmax_topk_kernel<<<blocks, kWarpsPerBlock * 32, shared, stream>>>(
      logits, tokens, experts, top_k, topk_expert, topk_prob, normalize);
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void gate_forward(BlasHandle& blas, ElementType type, int tokens, int hidden, int experts,
                  int top_k, const void* x, const void* w_gate, float* logits, int* topk_expert,
                  float* topk_prob, bool normalize, cudaStream_t stream) {
  if (tokens <= 0) return;
  // logits (fp32) = x * w_gate with 16-bit operands: cuBLAS mixed precision, row-major mapping as
  // in gemm() (blas_gemm.cu).
  cublasHandle_t h = blas.impl().handle;
  MOESIM_DEVICE_CHECK(cublasSetStream(h, stream));
  const float alpha = 1.0F;
  const float beta = 0.0F;
  const cudaDataType_t t = detail::cuda_data_type(type);
  MOESIM_DEVICE_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, experts, tokens, hidden, &alpha,
                                   w_gate, t, experts, x, t, hidden, &beta, logits, CUDA_R_32F,
                                   experts, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  softmax_topk(logits, tokens, experts, top_k, topk_expert, topk_prob, normalize, stream);
}

}  // namespace moesim::kernels
