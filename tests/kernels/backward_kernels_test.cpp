// CPU references of the backward kernels against central finite differences of the forward
// references (label unit): each gradient must match d(sum(w * forward)) / d(input) for random
// weights w, so a wrong sign, factor or index shows up.
#include "kernels/reference/backward_kernels.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace moesim::reference {
namespace {

std::vector<float> random_values(std::size_t n, unsigned seed, float lo = -1.0F, float hi = 1.0F) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

double weighted(const std::vector<double>& out, const std::vector<float>& w) {
  double s = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) s += out[i] * w[i];
  return s;
}

/// Central difference of f at `x[i]` (float inputs: step 1e-2 keeps rounding far below the
/// 1e-4 relative truncation error of these smooth functions at that step).
double numeric(std::vector<float>& x, std::size_t i, const std::function<double()>& f) {
  const float h = 1e-2F;
  const float keep = x[i];
  x[i] = keep + h;
  const double up = f();
  x[i] = keep - h;
  const double down = f();
  x[i] = keep;
  return (up - down) / (2.0 * static_cast<double>(h));
}

void expect_gradient(std::vector<float>& x, const std::vector<double>& analytic,
                     const std::function<double()>& f, double tol) {
  ASSERT_EQ(analytic.size(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(analytic[i], numeric(x, i, f), tol) << "element " << i;
  }
}

TEST(ReferenceGemmAt, TransposedA) {
  // A stored as k x m = [[1, 2], [3, 4]] -> A^T = [[1, 3], [2, 4]]; times B = [[5], [6]].
  const std::vector<float> a{1, 2, 3, 4};
  const std::vector<float> b{5, 6};
  EXPECT_EQ(gemm_at(2, 1, 2, a, b), (std::vector<double>{1 * 5 + 3 * 6, 2 * 5 + 4 * 6}));
}

TEST(ReferenceAttentionBackward, MatchesFiniteDifferences) {
  const int batch = 2, seq = 3, dim = 2;
  const std::size_t n = static_cast<std::size_t>(batch * seq * dim);
  std::vector<float> q = random_values(n, 1), k = random_values(n, 2), v = random_values(n, 3);
  const std::vector<float> d_o = random_values(n, 4);
  for (const bool causal : {false, true}) {
    const AttentionGrad g = attention_backward(q, k, v, d_o, batch, seq, dim, 0.7, causal);
    auto f = [&] { return weighted(attention(q, k, v, batch, seq, dim, 0.7, causal), d_o); };
    expect_gradient(q, g.dq, f, 2e-3);
    expect_gradient(k, g.dk, f, 2e-3);
    expect_gradient(v, g.dv, f, 2e-3);
  }
}

TEST(ReferenceActivationBackward, GeluAndSwigluMatchFiniteDifferences) {
  const int rows = 3, ffn = 4;
  for (const Activation act : {Activation::gelu, Activation::swiglu}) {
    const int width = act == Activation::swiglu ? 2 * ffn : ffn;
    std::vector<float> h1 = random_values(static_cast<std::size_t>(rows * width), 5, -2.0F, 2.0F);
    const std::vector<float> d_act = random_values(static_cast<std::size_t>(rows * ffn), 6);
    const std::vector<double> g = activation_backward(h1, d_act, rows, ffn, act);
    auto f = [&] {
      double s = 0.0;
      for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < ffn; ++c) {
          const double x = h1[static_cast<std::size_t>(r * width + c)];
          const double y = act == Activation::gelu
                               ? gelu(x)
                               : silu(x) * h1[static_cast<std::size_t>(r * width + ffn + c)];
          s += y * d_act[static_cast<std::size_t>(r * ffn + c)];
        }
      }
      return s;
    };
    expect_gradient(h1, g, f, 1e-3);
  }
}

TEST(ReferenceLayernormBackward, MatchesFiniteDifferences) {
  const int rows = 3, cols = 5;
  std::vector<float> x = random_values(static_cast<std::size_t>(rows * cols), 7);
  std::vector<float> gamma = random_values(static_cast<std::size_t>(cols), 8, 0.5F, 1.5F);
  std::vector<float> beta = random_values(static_cast<std::size_t>(cols), 9);
  const std::vector<float> dy = random_values(x.size(), 10);
  const LayernormGrad g = layernorm_backward(x, gamma, dy, rows, cols, 1e-5);
  auto f = [&] { return weighted(layernorm(x, gamma, beta, rows, cols, 1e-5), dy); };
  expect_gradient(x, g.dx, f, 2e-3);
  expect_gradient(gamma, g.dgamma, f, 2e-3);
  expect_gradient(beta, g.dbeta, f, 2e-3);
}

TEST(ReferenceSoftmaxTopKBackward, MatchesFiniteDifferences) {
  const int tokens = 3, experts = 6, top_k = 2;
  std::vector<float> logits_f =
      random_values(static_cast<std::size_t>(tokens * experts), 11, -3, 3);
  const std::vector<float> dp_f = random_values(static_cast<std::size_t>(tokens * top_k), 12);
  const std::vector<double> dp(dp_f.begin(), dp_f.end());
  auto as_double = [&] { return std::vector<double>(logits_f.begin(), logits_f.end()); };
  const TopK chosen = softmax_topk(as_double(), tokens, experts, top_k, false);
  const std::vector<double> g = softmax_topk_backward(as_double(), dp, tokens, experts, top_k);
  // The top-k choice is fixed around the point (random logits are far from ties at this step).
  auto f = [&] {
    const std::vector<double> l = as_double();
    double s = 0.0;
    for (int t = 0; t < tokens; ++t) {
      double max = l[static_cast<std::size_t>(t * experts)], sum = 0.0;
      for (int e = 0; e < experts; ++e)
        max = std::max(max, l[static_cast<std::size_t>(t * experts + e)]);
      for (int e = 0; e < experts; ++e)
        sum += std::exp(l[static_cast<std::size_t>(t * experts + e)] - max);
      for (int j = 0; j < top_k; ++j) {
        const int e = chosen.expert[static_cast<std::size_t>(t * top_k + j)];
        s += std::exp(l[static_cast<std::size_t>(t * experts + e)] - max) / sum *
             dp[static_cast<std::size_t>(t * top_k + j)];
      }
    }
    return s;
  };
  expect_gradient(logits_f, g, f, 1e-3);
}

TEST(ReferenceUnpermuteBackward, MatchesFiniteDifferencesAndSkipsDropped) {
  const int tokens = 3, top_k = 2, hidden = 2, rows = 5;
  const std::vector<int> dest{0, 3, 1, -1, 4, 2};  // assignment 3 dropped
  std::vector<float> expert_out = random_values(static_cast<std::size_t>(rows * hidden), 13);
  std::vector<float> prob = random_values(dest.size(), 14, 0.1F, 1.0F);
  const std::vector<float> dy = random_values(static_cast<std::size_t>(tokens * hidden), 15);
  const UnpermuteGrad g =
      unpermute_backward(dy, expert_out, dest, prob, tokens, top_k, hidden, rows);
  auto f = [&] {
    return weighted(unpermute_combine(expert_out, dest, prob, tokens, top_k, hidden), dy);
  };
  expect_gradient(expert_out, g.d_expert_out, f, 1e-4);
  expect_gradient(prob, g.d_prob, f, 1e-4);
  EXPECT_EQ(g.d_prob[3], 0.0);
}

TEST(ReferencePermuteBackward, SumsTheCopiesOfEachToken) {
  // Token 0 went to rows 0 and 2, token 1 to row 1 (its second choice dropped).
  const std::vector<int> dest{0, 2, 1, -1};
  const std::vector<float> d_out{1, 10, 100};  // hidden = 1
  EXPECT_EQ(permute_backward(d_out, dest, 2, 2, 1), (std::vector<double>{101, 10}));
}

TEST(ReferenceAdam, FirstStepMovesEachWeightByLearningRate) {
  // Step 1 from zero moments: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps).
  const std::vector<float> grad{0.5F, -2.0F};
  const std::vector<float> w{1.0F, 1.0F}, zero{0.0F, 0.0F};
  AdamParams p;
  p.lr = 0.1;
  const AdamState s = adam_step(grad, w, zero, zero, p);
  EXPECT_NEAR(s.master[0], 1.0 - 0.1, 1e-6);
  EXPECT_NEAR(s.master[1], 1.0 + 0.1, 1e-6);
  EXPECT_NEAR(s.m[0], 0.1 * 0.5, 1e-7);
  EXPECT_NEAR(s.v[1], 0.001 * 4.0, 1e-9);
}

TEST(ReferenceChoicesFromCounts, GivesEachExpertItsCountOnDistinctTokens) {
  const std::vector<std::int64_t> counts{3, 0, 2, 2};  // 7 of 4 tokens x 2 choices: one dropped
  const std::vector<int> c = choices_from_counts(counts, 4, 2);
  std::vector<int> seen(4, 0);
  int dropped = 0;
  for (int t = 0; t < 4; ++t) {
    EXPECT_TRUE(c[static_cast<std::size_t>(t * 2)] != c[static_cast<std::size_t>(t * 2 + 1)] ||
                c[static_cast<std::size_t>(t * 2)] < 0);
    for (int j = 0; j < 2; ++j) {
      const int e = c[static_cast<std::size_t>(t * 2 + j)];
      if (e < 0)
        ++dropped;
      else
        ++seen[static_cast<std::size_t>(e)];
    }
  }
  EXPECT_EQ(seen, (std::vector<int>{3, 0, 2, 2}));
  EXPECT_EQ(dropped, 1);
  const Routing r = route(c, 4, 2, 4, 0);
  EXPECT_EQ(r.expert_count, (std::vector<int>{3, 0, 2, 2}));
  EXPECT_THROW(choices_from_counts(std::vector<std::int64_t>{5}, 4, 2), std::invalid_argument);
}

}  // namespace
}  // namespace moesim::reference
