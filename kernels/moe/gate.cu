// Router: the gate GEMM (cuBLAS, fp32 logits) and a fused softmax + top-k, one warp per token.
#include "kernels/moe/blas_handle_impl.hpp"
#include "kernels/moe/device_check.hpp"
#include "kernels/moe/router_warp.cuh"

namespace moesim::kernels {
namespace {

using router::kMaxExperts;
using router::kMaxTopK;
using router::kWarpsPerBlock;

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

  router::softmax_row(row, experts, lane, p);
  float kept[kMaxTopK];
  int kept_index[kMaxTopK];
  router::take_top_k(p, experts, top_k, lane, kept, kept_index);
  float kept_sum = 0.0F;
  for (int j = 0; j < top_k; ++j) kept_sum += kept[j];
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
