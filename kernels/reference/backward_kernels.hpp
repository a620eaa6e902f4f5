// CPU references of the training kernels beyond the forward pass (kernels/moe/backward_kernels.cu):
// the backward of attention, activation, layernorm, the router's softmax + top-k and the
// un-permute/combine, an Adam step, and the routing a permute applies for given per-expert
// token counts. Same conventions as reference_kernels.hpp (row-major, float inputs, double sums
// and outputs). Each backward is the exact gradient of the matching forward reference; the unit
// tests check it against central finite differences of that forward.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/reference/reference_kernels.hpp"

namespace moesim::reference {

/// C = A^T * B, row-major; a is k x m (stored transposed), b is k x n. The weight gradient
/// dW = X^T dY of a linear layer.
std::vector<double> gemm_at(int m, int n, int k, std::span<const float> a,
                            std::span<const float> b);

struct AttentionGrad {
  std::vector<double> dq, dk, dv;
};
/// Gradient of attention() with respect to q, k, v given the output gradient d_o (same layout:
/// batch heads of seq x head_dim).
AttentionGrad attention_backward(std::span<const float> q, std::span<const float> k,
                                 std::span<const float> v, std::span<const float> d_o, int batch,
                                 int seq, int head_dim, double scale, bool causal);

/// Gradient of the FFN activation act = f(h1) (gelu, or swiglu over [gate | up]) with respect to
/// h1 (rows x ffn_first_width) given d_act (rows x ffn).
std::vector<double> activation_backward(std::span<const float> h1, std::span<const float> d_act,
                                        int rows, int ffn, Activation activation);

struct LayernormGrad {
  std::vector<double> dx;      ///< rows x cols
  std::vector<double> dgamma;  ///< cols
  std::vector<double> dbeta;   ///< cols
};
/// Gradient of layernorm() given dy.
LayernormGrad layernorm_backward(std::span<const float> x, std::span<const float> gamma,
                                 std::span<const float> dy, int rows, int cols, double eps);

/// Gradient of softmax_topk(logits, normalize = false) with respect to the logits, given the
/// gradient of each kept probability d_prob (tokens x top_k, in softmax_topk's best-first order).
/// Only the probabilities are differentiable; the top-k choice is piecewise constant.
std::vector<double> softmax_topk_backward(std::span<const double> logits,
                                          std::span<const double> d_prob, int tokens, int experts,
                                          int top_k);

struct UnpermuteGrad {
  std::vector<double> d_expert_out;  ///< out_rows x hidden; rows nobody reads stay 0
  std::vector<double> d_prob;        ///< tokens x top_k; 0 for dropped assignments
};
/// Gradient of unpermute_combine() with respect to expert_out and prob, given dy.
UnpermuteGrad unpermute_backward(std::span<const float> dy, std::span<const float> expert_out,
                                 std::span<const int> dest_row, std::span<const float> prob,
                                 int tokens, int top_k, int hidden, int out_rows);

/// The permute's backward: dx[t] = sum over kept j of d_out[dest_row[t, j]] (unit weights).
std::vector<double> permute_backward(std::span<const float> d_out, std::span<const int> dest_row,
                                     int tokens, int top_k, int hidden);

struct AdamParams {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  int step = 1;  ///< 1-based step for the bias corrections
};
struct AdamState {
  std::vector<double> master, m, v;
};
/// One Adam step (Kingma & Ba 2015, Algorithm 1, bias-corrected) over fp32 master weights with
/// moments m and v, from 16-bit gradients.
AdamState adam_step(std::span<const float> grad, std::span<const float> master,
                    std::span<const float> m, std::span<const float> v, const AdamParams& p);

/// Expert choices (tokens x top_k, token-major) that give expert e exactly tokens_per_expert[e]
/// assignments: expert by expert, its count goes to consecutive tokens round-robin over all
/// tokens, each token's choices filled in order, so no token gets an expert twice while every
/// count is <= tokens. Choices left over when the counts sum to less than tokens * top_k are -1:
/// dropped (route() skips them). Throws std::invalid_argument when the counts cannot be placed.
std::vector<int> choices_from_counts(std::span<const std::int64_t> tokens_per_expert, int tokens,
                                     int top_k);

}  // namespace moesim::reference
