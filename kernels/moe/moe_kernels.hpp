// Host API of moesim's CUDA MoE kernels: the operations a MoE training task graph contains, for
// the kernel benchmarks, the GPU tests and the hardware executor.
//
// Conventions (the CPU references in kernels/reference/reference_kernels.hpp follow the same):
//  - Every pointer is a device pointer unless a parameter says "host". Activations and weights
//    are 16-bit (`ElementType`: bf16 or fp16); gate logits and probabilities are fp32; indices
//    are int32. Matrices are dense row-major; GEMMs compute C[m x n] = A[m x k] * B[k x n] with
//    fp32 accumulation (cuBLAS, CUBLAS_COMPUTE_32F).
//  - Routing: token t's j-th choice is assignment a = t * top_k + j. Top-k ties go to the lower
//    expert index. Inside an expert, assignments keep order a, so capacity-aware routing keeps
//    the first `capacity` assignments of each expert (token order) and drops the rest.
//  - Everything is enqueued on `stream` and returns without synchronizing, except where a
//    function says it copies to the host.
//  - Errors (a failed CUDA or cuBLAS call, bad arguments) throw moesim::kernels::DeviceError
//    with the expression, file:line and the library's message.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>

#include "kernels/device_check.hpp"  // DeviceError

namespace moesim::kernels {

enum class ElementType : std::uint8_t { bf16, fp16 };
constexpr std::size_t element_bytes(ElementType) { return 2; }

/// True when a CUDA device is usable. Any error of cudaGetDeviceCount (no driver, driver older
/// than the runtime, no device) counts as "no GPU".
bool cuda_device_available();

/// A cuBLAS handle plus the small device scratch the grouped GEMM needs. Not thread-safe; one
/// per stream is the intended use. Creating one needs a usable device.
class BlasHandle {
 public:
  BlasHandle();
  ~BlasHandle();
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// ---- GEMM -----------------------------------------------------------------------------------

/// C[m x n] = op(A)[m x k] * op(B)[k x n], all `type`: with `b_transposed` B is stored n x k
/// (an input gradient dY W^T), with `a_transposed` A is stored k x m (a weight gradient X^T dY).
void gemm(BlasHandle& blas, ElementType type, int m, int n, int k, const void* a, const void* b,
          void* c, cudaStream_t stream, bool b_transposed = false, bool a_transposed = false);

/// `batch` independent GEMMs with constant strides (elements) between operands.
void gemm_strided_batched(BlasHandle& blas, ElementType type, int m, int n, int k, int batch,
                          const void* a, std::int64_t stride_a, const void* b,
                          std::int64_t stride_b, void* c, std::int64_t stride_c,
                          cudaStream_t stream, bool b_transposed = false,
                          bool a_transposed = false);

// ---- Gate -----------------------------------------------------------------------------------

/// Router: logits[tokens x experts] (fp32) = x[tokens x hidden] * w_gate[hidden x experts],
/// then a fused softmax + top-k: topk_expert / topk_prob [tokens x top_k], best first. With
/// `normalize`, the kept probabilities are divided by their sum. experts <= 1024, top_k <= 32.
void gate_forward(BlasHandle& blas, ElementType type, int tokens, int hidden, int experts,
                  int top_k, const void* x, const void* w_gate, float* logits, int* topk_expert,
                  float* topk_prob, bool normalize, cudaStream_t stream);

/// The fused softmax + top-k alone, on fp32 logits (one warp per token).
void softmax_topk(const float* logits, int tokens, int experts, int top_k, int* topk_expert,
                  float* topk_prob, bool normalize, cudaStream_t stream);

// ---- Permute / un-permute -------------------------------------------------------------------

/// Device scratch `route` needs for `assignments` = tokens * top_k.
std::size_t route_workspace_bytes(int assignments, int experts);

/// Rows of every assignment in the expert-ordered buffer (deterministic, no atomics races). An
/// expert index of -1 marks an assignment dropped before routing (dest_row -1):
///  capacity > 0: (experts, capacity, hidden) layout, dest_row = e * capacity + rank, -1 when
///                rank >= capacity (dropped); expert_offset[e] = e * capacity.
///  capacity <= 0: dropless; dest_row = expert_offset[e] + rank, expert_offset = exclusive
///                prefix sum of the per-expert counts.
/// Outputs: dest_row [tokens * top_k], expert_count [experts] (kept), expert_offset [experts+1].
void route(const int* topk_expert, int tokens, int top_k, int experts, int capacity, int* dest_row,
           int* expert_count, int* expert_offset, void* workspace, std::size_t workspace_bytes,
           cudaStream_t stream);

/// out[dest_row[a]] = x[a / top_k]; out (out_rows x hidden) is zeroed first, so capacity slots
/// nobody fills are 0.
void permute(ElementType type, const void* x, int tokens, int top_k, int hidden,
             const int* dest_row, void* out, int out_rows, cudaStream_t stream);

/// y[t] = sum_j topk_prob[t, j] * expert_out[dest_row[t, j]] over kept assignments (fp32
/// accumulation), y: tokens x hidden.
void unpermute_combine(ElementType type, const void* expert_out, const int* dest_row,
                       const float* topk_prob, int tokens, int top_k, int hidden, void* y,
                       cudaStream_t stream);

// ---- Expert FFN -----------------------------------------------------------------------------

enum class Activation : std::uint8_t { gelu, swiglu };
/// per_expert: one cuBLAS GEMM per expert and layer; grouped: one cublasGemmGroupedBatchedEx
/// call per layer covering every expert (experts with no rows are skipped in both).
enum class GemmForm : std::uint8_t { per_expert, grouped };

/// Width of the first layer's output: ffn (gelu) or 2 * ffn (swiglu: [gate | up]).
constexpr int ffn_first_width(Activation act, int ffn) {
  return act == Activation::swiglu ? 2 * ffn : ffn;
}

/// Expert FFN on expert-ordered rows x[rows x hidden]; expert e owns rows
/// [row_offset[e], row_offset[e+1]) (host array, experts + 1 entries; for the capacity layout
/// row_offset[e] = e * C). w1: experts x hidden x ffn_first_width, w2: experts x ffn x hidden.
///   gelu:   out = gelu(x W1) W2;  swiglu: out = (silu(x Wg) * (x Wu)) W2.
/// h1 [rows x ffn_first_width] and act [rows x ffn] are caller-provided device scratch.
void expert_ffn(BlasHandle& blas, ElementType type, Activation activation, GemmForm form,
                const void* x, std::span<const std::int64_t> row_offset, int hidden, int ffn,
                const void* w1, const void* w2, void* h1, void* act, void* out,
                cudaStream_t stream);

/// act[rows x ffn] = gelu(h1) or silu(h1[:, :ffn]) * h1[:, ffn:].
void activation_forward(ElementType type, Activation activation, const void* h1, std::int64_t rows,
                        int ffn, void* act, cudaStream_t stream);

// ---- Dense parts ----------------------------------------------------------------------------

/// out = softmax(scale * in) per row of `cols`; with `causal`, column c > (r % rows_per_batch)
/// is masked to probability 0. In place allowed.
void softmax_rows(ElementType type, const void* in, void* out, std::int64_t rows, int cols,
                  float scale, bool causal, int rows_per_batch, cudaStream_t stream);

/// Attention for `batch` heads: scores = Q K^T (strided-batched GEMM), softmax(scale, causal),
/// O = P V. q, k, v, o: batch x seq x head_dim; scores: batch x seq x seq scratch.
void attention_forward(BlasHandle& blas, ElementType type, int batch, int seq, int head_dim,
                       const void* q, const void* k, const void* v, void* scores, void* o,
                       float scale, bool causal, cudaStream_t stream);

/// y = (x - mean) / sqrt(var + eps) * gamma + beta per row (fp32 statistics); one block per row.
void layernorm(ElementType type, const void* x, const void* gamma, const void* beta, void* y,
               std::int64_t rows, int cols, float eps, cudaStream_t stream);

// ---- Backward pass and optimizer (backward_kernels.cu; references in
// kernels/reference/backward_kernels.hpp) ------------------------------------------------------

/// Attention backward for `batch` heads: recomputes P = softmax(scale Q K^T [causal]) into
/// `scores`, then dV = P^T dO, dP = dO V^T (into `d_scores`), dS = P * (dP - rowsum(dP * P)),
/// dQ = scale dS K, dK = scale dS^T Q. Layouts as attention_forward.
void attention_backward(BlasHandle& blas, ElementType type, int batch, int seq, int head_dim,
                        const void* q, const void* k, const void* v, const void* d_o, void* scores,
                        void* d_scores, void* dq, void* dk, void* dv, float scale, bool causal,
                        cudaStream_t stream);

/// In place on d_p: d_s = scale * p * (d_p - rowsum(d_p * p)) per row of `cols`.
void softmax_rows_backward(ElementType type, const void* p, void* d_p, std::int64_t rows, int cols,
                           float scale, cudaStream_t stream);

/// d_h1 [rows x ffn_first_width] = d act / d h1 * d_act for act = activation_forward(h1).
void activation_backward(ElementType type, Activation activation, const void* h1, const void* d_act,
                         std::int64_t rows, int ffn, void* d_h1, cudaStream_t stream);

/// Device scratch layernorm_backward needs: per-row statistics and per-chunk column partials.
std::size_t layernorm_backward_workspace_bytes(std::int64_t rows, int cols);

/// Layernorm backward: dx (type) per row (one block per row), and dgamma, dbeta (fp32, cols)
/// summed over rows in fixed chunks and then over chunks (deterministic: no atomics).
void layernorm_backward(ElementType type, const void* x, const void* gamma, const void* dy,
                        void* dx, float* dgamma, float* dbeta, std::int64_t rows, int cols,
                        float eps, void* workspace, std::size_t workspace_bytes,
                        cudaStream_t stream);

/// Router backward: recomputes softmax and top-k of `logits` (fp32 tokens x experts) and writes
/// d_logits = p * (g - sum(g * p)), g the gradient of the kept probabilities (d_topk_prob,
/// tokens x top_k, best first; unnormalized top-k). experts <= 1024, top_k <= 32.
void softmax_topk_backward(const float* logits, const float* d_topk_prob, int tokens, int experts,
                           int top_k, float* d_logits, cudaStream_t stream);

/// Combine backward: d_expert_out[dest_row[a]] = topk_prob[a] * dy[a / top_k] (out_rows x
/// hidden, zeroed first) and d_prob[a] = dot(dy[a / top_k], expert_out[dest_row[a]]) (0 when
/// dropped).
void unpermute_backward(ElementType type, const void* dy, const void* expert_out,
                        const int* dest_row, const float* topk_prob, int tokens, int top_k,
                        int hidden, void* d_expert_out, int out_rows, float* d_prob,
                        cudaStream_t stream);

struct AdamConfig {
  float lr = 1e-4F;
  float beta1 = 0.9F;
  float beta2 = 0.999F;
  float eps = 1e-8F;
  int step = 1;  ///< 1-based, for the bias corrections
};

/// One Adam step (Kingma & Ba 2015, Algorithm 1) over `n` parameters: fp32 master weights and
/// moments updated in place from 16-bit gradients, the 16-bit weights written from the master.
void adam_step(ElementType type, const void* grad, float* master, float* m, float* v, void* weights,
               std::int64_t n, const AdamConfig& config, cudaStream_t stream);

}  // namespace moesim::kernels
