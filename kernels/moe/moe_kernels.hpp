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

namespace moesim::kernels {

class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

/// C[m x n] = A[m x k] * B[k x n] (or B^T when `b_transposed`: B is n x k), all `type`.
void gemm(BlasHandle& blas, ElementType type, int m, int n, int k, const void* a, const void* b,
          void* c, cudaStream_t stream, bool b_transposed = false);

/// `batch` independent GEMMs with constant strides (elements) between operands.
void gemm_strided_batched(BlasHandle& blas, ElementType type, int m, int n, int k, int batch,
                          const void* a, std::int64_t stride_a, const void* b,
                          std::int64_t stride_b, void* c, std::int64_t stride_c,
                          cudaStream_t stream, bool b_transposed = false);

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

/// Rows of every assignment in the expert-ordered buffer (deterministic, no atomics races):
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

}  // namespace moesim::kernels
