#include "kernels/reference/backward_kernels.hpp"

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace moesim::reference {
namespace {

std::size_t idx(std::int64_t row, std::int64_t cols, std::int64_t col) {
  return static_cast<std::size_t>(row * cols + col);
}

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

}  // namespace

std::vector<double> gemm_at(int m, int n, int k, std::span<const float> a,
                            std::span<const float> b) {
  require(a.size() == idx(k, m, 0) && b.size() == idx(k, n, 0), "gemm_at: operand sizes");
  std::vector<double> c(idx(m, n, 0), 0.0);
  for (int p = 0; p < k; ++p) {
    for (int i = 0; i < m; ++i) {
      const double api = a[idx(p, m, i)];
      for (int j = 0; j < n; ++j) c[idx(i, n, j)] += api * b[idx(p, n, j)];
    }
  }
  return c;
}

AttentionGrad attention_backward(std::span<const float> q, std::span<const float> k,
                                 std::span<const float> v, std::span<const float> d_o, int batch,
                                 int seq, int head_dim, double scale, bool causal) {
  const std::size_t per_head = idx(seq, head_dim, 0);
  require(q.size() == per_head * static_cast<std::size_t>(batch) && k.size() == q.size() &&
              v.size() == q.size() && d_o.size() == q.size(),
          "attention_backward: q/k/v/d_o sizes");
  AttentionGrad g{std::vector<double>(q.size(), 0.0), std::vector<double>(q.size(), 0.0),
                  std::vector<double>(q.size(), 0.0)};
  for (int b = 0; b < batch; ++b) {
    const std::size_t off = per_head * static_cast<std::size_t>(b);
    const std::vector<double> s =
        gemm_bt(seq, seq, head_dim, q.subspan(off, per_head), k.subspan(off, per_head));
    const std::vector<float> s_f(s.begin(), s.end());
    const std::vector<double> p = softmax_rows(s_f, seq, seq, scale, causal, seq);
    // dP = dO V^T, dS = P * (dP - rowsum(dP * P)), scaled into dQ = scale dS K, dK = scale dS^T Q.
    for (int i = 0; i < seq; ++i) {
      std::vector<double> dp(static_cast<std::size_t>(seq), 0.0);
      double dot = 0.0;
      for (int j = 0; j < seq; ++j) {
        double sum = 0.0;
        for (int d = 0; d < head_dim; ++d)
          sum += static_cast<double>(d_o[off + idx(i, head_dim, d)]) * v[off + idx(j, head_dim, d)];
        dp[static_cast<std::size_t>(j)] = sum;
        dot += sum * p[idx(i, seq, j)];
      }
      for (int j = 0; j < seq; ++j) {
        const double pij = p[idx(i, seq, j)];
        if (pij == 0.0) continue;
        const double ds = pij * (dp[static_cast<std::size_t>(j)] - dot) * scale;
        for (int d = 0; d < head_dim; ++d) {
          g.dv[off + idx(j, head_dim, d)] += pij * d_o[off + idx(i, head_dim, d)];
          g.dq[off + idx(i, head_dim, d)] += ds * k[off + idx(j, head_dim, d)];
          g.dk[off + idx(j, head_dim, d)] += ds * q[off + idx(i, head_dim, d)];
        }
      }
    }
  }
  return g;
}

std::vector<double> activation_backward(std::span<const float> h1, std::span<const float> d_act,
                                        int rows, int ffn, Activation activation) {
  const int width = activation == Activation::swiglu ? 2 * ffn : ffn;
  require(h1.size() == idx(rows, width, 0) && d_act.size() == idx(rows, ffn, 0),
          "activation_backward: sizes");
  std::vector<double> d_h1(h1.size(), 0.0);
  constexpr double kC = 0.7978845608028654;  // sqrt(2 / pi), as gelu()
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < ffn; ++c) {
      const double g = h1[idx(r, width, c)];
      const double da = d_act[idx(r, ffn, c)];
      if (activation == Activation::gelu) {
        const double t = std::tanh(kC * (g + 0.044715 * g * g * g));
        const double dg =
            0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * kC * (1.0 + 3 * 0.044715 * g * g);
        d_h1[idx(r, width, c)] = da * dg;
      } else {
        const double up = h1[idx(r, width, ffn + c)];
        const double sig = 1.0 / (1.0 + std::exp(-g));
        d_h1[idx(r, width, c)] = da * up * sig * (1.0 + g * (1.0 - sig));
        d_h1[idx(r, width, ffn + c)] = da * g * sig;
      }
    }
  }
  return d_h1;
}

LayernormGrad layernorm_backward(std::span<const float> x, std::span<const float> gamma,
                                 std::span<const float> dy, int rows, int cols, double eps) {
  require(x.size() == idx(rows, cols, 0) && dy.size() == x.size() &&
              gamma.size() == static_cast<std::size_t>(cols),
          "layernorm_backward: sizes");
  LayernormGrad g{std::vector<double>(x.size(), 0.0),
                  std::vector<double>(static_cast<std::size_t>(cols), 0.0),
                  std::vector<double>(static_cast<std::size_t>(cols), 0.0)};
  std::vector<double> xhat(static_cast<std::size_t>(cols));
  for (int r = 0; r < rows; ++r) {
    double mean = 0.0;
    for (int c = 0; c < cols; ++c) mean += x[idx(r, cols, c)];
    mean /= cols;
    double var = 0.0;
    for (int c = 0; c < cols; ++c) var += (x[idx(r, cols, c)] - mean) * (x[idx(r, cols, c)] - mean);
    const double inv = 1.0 / std::sqrt(var / cols + eps);
    double sum_dyh = 0.0;
    double sum_dyh_xhat = 0.0;
    for (int c = 0; c < cols; ++c) {
      const auto u = static_cast<std::size_t>(c);
      xhat[u] = (x[idx(r, cols, c)] - mean) * inv;
      const double dyh = static_cast<double>(dy[idx(r, cols, c)]) * gamma[u];
      sum_dyh += dyh;
      sum_dyh_xhat += dyh * xhat[u];
      g.dgamma[u] += static_cast<double>(dy[idx(r, cols, c)]) * xhat[u];
      g.dbeta[u] += dy[idx(r, cols, c)];
    }
    for (int c = 0; c < cols; ++c) {
      const auto u = static_cast<std::size_t>(c);
      const double dyh = static_cast<double>(dy[idx(r, cols, c)]) * gamma[u];
      g.dx[idx(r, cols, c)] = inv / cols * (cols * dyh - sum_dyh - xhat[u] * sum_dyh_xhat);
    }
  }
  return g;
}

std::vector<double> softmax_topk_backward(std::span<const double> logits,
                                          std::span<const double> d_prob, int tokens, int experts,
                                          int top_k) {
  require(d_prob.size() == idx(tokens, top_k, 0), "softmax_topk_backward: d_prob size");
  const TopK chosen = softmax_topk(logits, tokens, experts, top_k, false);
  std::vector<double> d_logits(logits.size(), 0.0);
  std::vector<double> p(static_cast<std::size_t>(experts));
  std::vector<double> g(static_cast<std::size_t>(experts));
  for (int t = 0; t < tokens; ++t) {
    double max = logits[idx(t, experts, 0)];
    for (int e = 1; e < experts; ++e) max = std::max(max, logits[idx(t, experts, e)]);
    double sum = 0.0;
    for (int e = 0; e < experts; ++e)
      sum += p[static_cast<std::size_t>(e)] = std::exp(logits[idx(t, experts, e)] - max);
    for (double& pe : p) pe /= sum;
    std::fill(g.begin(), g.end(), 0.0);
    for (int j = 0; j < top_k; ++j) {
      g[static_cast<std::size_t>(chosen.expert[idx(t, top_k, j)])] = d_prob[idx(t, top_k, j)];
    }
    double dot = 0.0;
    for (std::size_t e = 0; e < p.size(); ++e) dot += g[e] * p[e];
    for (int e = 0; e < experts; ++e) {
      const auto u = static_cast<std::size_t>(e);
      d_logits[idx(t, experts, e)] = p[u] * (g[u] - dot);
    }
  }
  return d_logits;
}

UnpermuteGrad unpermute_backward(std::span<const float> dy, std::span<const float> expert_out,
                                 std::span<const int> dest_row, std::span<const float> prob,
                                 int tokens, int top_k, int hidden, int out_rows) {
  require(dy.size() == idx(tokens, hidden, 0) && expert_out.size() == idx(out_rows, hidden, 0) &&
              dest_row.size() == idx(tokens, top_k, 0) && prob.size() == dest_row.size(),
          "unpermute_backward: sizes");
  UnpermuteGrad g{std::vector<double>(expert_out.size(), 0.0),
                  std::vector<double>(dest_row.size(), 0.0)};
  for (std::size_t a = 0; a < dest_row.size(); ++a) {
    const int row = dest_row[a];
    if (row < 0) continue;
    require(row < out_rows, "unpermute_backward: dest_row out of range");
    const auto t = static_cast<std::int64_t>(a) / top_k;
    double dot = 0.0;
    for (int c = 0; c < hidden; ++c) {
      const double d = dy[idx(t, hidden, c)];
      g.d_expert_out[idx(row, hidden, c)] = static_cast<double>(prob[a]) * d;
      dot += d * expert_out[idx(row, hidden, c)];
    }
    g.d_prob[a] = dot;
  }
  return g;
}

std::vector<double> permute_backward(std::span<const float> d_out, std::span<const int> dest_row,
                                     int tokens, int top_k, int hidden) {
  const std::vector<float> ones(dest_row.size(), 1.0F);
  require(dest_row.size() == idx(tokens, top_k, 0), "permute_backward: dest_row size");
  return unpermute_combine(d_out, dest_row, ones, tokens, top_k, hidden);
}

AdamState adam_step(std::span<const float> grad, std::span<const float> master,
                    std::span<const float> m, std::span<const float> v, const AdamParams& p) {
  require(master.size() == grad.size() && m.size() == grad.size() && v.size() == grad.size(),
          "adam_step: sizes");
  require(p.step >= 1, "adam_step: step >= 1");
  AdamState s{std::vector<double>(grad.size()), std::vector<double>(grad.size()),
              std::vector<double>(grad.size())};
  const double c1 = 1.0 - std::pow(p.beta1, p.step);
  const double c2 = 1.0 - std::pow(p.beta2, p.step);
  for (std::size_t i = 0; i < grad.size(); ++i) {
    const double g = grad[i];
    s.m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    s.v[i] = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    s.master[i] = master[i] - p.lr * (s.m[i] / c1) / (std::sqrt(s.v[i] / c2) + p.eps);
  }
  return s;
}

std::vector<int> choices_from_counts(std::span<const std::int64_t> tokens_per_expert, int tokens,
                                     int top_k) {
  require(tokens >= 0 && top_k >= 1, "choices_from_counts: tokens >= 0, top_k >= 1");
  const std::int64_t slots = std::int64_t{tokens} * top_k;
  std::int64_t total = 0;
  for (std::int64_t c : tokens_per_expert) {
    require(c >= 0 && c <= tokens, "choices_from_counts: a count is negative or above tokens");
    total += c;
  }
  require(total <= slots, "choices_from_counts: counts exceed tokens * top_k");
  std::vector<int> choice(static_cast<std::size_t>(slots), -1);
  // Slot s is token s % tokens, choice s / tokens: a run of <= tokens consecutive slots never
  // visits a token twice, so each expert's run gives distinct tokens.
  std::int64_t s = 0;
  for (std::size_t e = 0; e < tokens_per_expert.size(); ++e) {
    for (std::int64_t i = 0; i < tokens_per_expert[e]; ++i, ++s) {
      const std::int64_t t = s % tokens;
      const std::int64_t j = s / tokens;
      choice[static_cast<std::size_t>(t * top_k + j)] = static_cast<int>(e);
    }
  }
  return choice;
}

}  // namespace moesim::reference
