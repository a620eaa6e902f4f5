// CPU reference implementations of every MoE kernel in kernels/moe, for testing the CUDA kernels
// and for hand-checked unit tests. Plain C++ (no CUDA): builds and is tested on every machine.
//
// Conventions (shared with kernels/moe/moe_kernels.hpp):
//  - Matrices are dense row-major. A GEMM computes C[m x n] = A[m x k] * B[k x n].
//  - Inputs are float (the values the GPU kernels see, already rounded to bf16/fp16 by the test);
//    every sum is accumulated in double, and outputs are double, so the reference is far more
//    exact than any 16-bit kernel.
//  - Routing: token t's j-th choice is "assignment" a = t * top_k + j. Top-k ties go to the lower
//    expert index. Within an expert, assignments keep their order a (token-major), so the
//    capacity-aware permute keeps the first `capacity` assignments of each expert and drops the
//    rest (GShard/Switch "first come first served" in token order).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace moesim::reference {

/// C = A * B, row-major; a is m x k, b is k x n.
std::vector<double> gemm(int m, int n, int k, std::span<const float> a, std::span<const float> b);
/// C = A * B^T; a is m x k, b is n x k (e.g. attention scores Q K^T).
std::vector<double> gemm_bt(int m, int n, int k, std::span<const float> a,
                            std::span<const float> b);

struct TopK {
  std::vector<int> expert;   ///< tokens x top_k, best first
  std::vector<double> prob;  ///< tokens x top_k, softmax probability (renormalized if asked)
};

/// Softmax over each row of `logits` (tokens x experts), then the top_k largest probabilities.
/// With `normalize`, the kept probabilities are divided by their sum (Mixtral/DeepSeek style).
TopK softmax_topk(std::span<const double> logits, int tokens, int experts, int top_k,
                  bool normalize);

/// Router: logits = x (tokens x hidden) * w_gate (hidden x experts), then softmax_topk.
TopK gate(std::span<const float> x, std::span<const float> w_gate, int tokens, int hidden,
          int experts, int top_k, bool normalize);

struct Routing {
  std::vector<int> dest_row;       ///< tokens x top_k: row in the permuted buffer, -1 if dropped
  std::vector<int> expert_count;   ///< experts: assignments kept per expert
  std::vector<int> expert_offset;  ///< experts + 1: first row of each expert (dropless), or e*C
};

/// Positions of every assignment in the expert-ordered buffer. An expert index of -1 marks an
/// assignment dropped before routing (dest_row -1).
/// capacity > 0: buffer is (experts, capacity, hidden); row = e * capacity + rank, dropped when
/// rank >= capacity. capacity <= 0: dropless; row = offset[e] + rank with offset the exclusive
/// prefix sum of per-expert counts.
Routing route(std::span<const int> topk_expert, int tokens, int top_k, int experts, int capacity);

/// out[dest_row[a]] = x[a / top_k] for every kept assignment; rows nobody writes stay 0.
std::vector<double> permute(std::span<const float> x, int tokens, int top_k, int hidden,
                            std::span<const int> dest_row, int out_rows);

/// y[t] = sum_j prob[t, j] * expert_out[dest_row[t, j]] over kept assignments.
std::vector<double> unpermute_combine(std::span<const float> expert_out,
                                      std::span<const int> dest_row, std::span<const float> prob,
                                      int tokens, int top_k, int hidden);

enum class Activation { gelu, swiglu };

/// gelu (tanh approximation) and silu, in double.
double gelu(double x);
double silu(double x);

/// Expert FFN over expert-ordered rows. Expert e owns rows [row_offset[e], row_offset[e+1]).
///   gelu:   out = gelu(x W1[e]) W2[e],      W1[e]: hidden x ffn,     W2[e]: ffn x hidden
///   swiglu: out = (silu(x Wg) * (x Wu)) W2, W1[e]: hidden x (2 ffn) = [Wg | Wu] column blocks
/// w1 holds the experts' W1 one after another, w2 likewise. The 16-bit kernel rounds the hidden
/// activation to its dtype; the reference does not.
std::vector<double> expert_ffn(std::span<const float> x, std::span<const std::int64_t> row_offset,
                               int hidden, int ffn, std::span<const float> w1,
                               std::span<const float> w2, Activation activation);

/// Row softmax of (scale * in) over `cols`; with `causal`, column c > row r % cols is masked
/// (rows are (batch, query) pairs with cols keys, so the query index is r % rows_per_batch).
std::vector<double> softmax_rows(std::span<const float> in, int rows, int cols, double scale,
                                 bool causal, int rows_per_batch);

/// Attention for `batch` independent heads: O = softmax(scale * Q K^T [causal]) V,
/// Q: seq x d, K: seq x d, V: seq x d per head, heads stored one after another.
std::vector<double> attention(std::span<const float> q, std::span<const float> k,
                              std::span<const float> v, int batch, int seq, int head_dim,
                              double scale, bool causal);

/// y = (x - mean) / sqrt(var + eps) * gamma + beta per row (population variance).
std::vector<double> layernorm(std::span<const float> x, std::span<const float> gamma,
                              std::span<const float> beta, int rows, int cols, double eps);

/// ||out - ref|| / ||ref|| (2-norms); 0 when both are zero, infinity when only ref is zero.
double relative_error(std::span<const double> out, std::span<const double> ref);

}  // namespace moesim::reference
