#include "kernels/reference/reference_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
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

std::vector<double> gemm(int m, int n, int k, std::span<const float> a, std::span<const float> b) {
  require(a.size() == idx(m, k, 0) && b.size() == idx(k, n, 0), "gemm: operand sizes");
  std::vector<double> c(idx(m, n, 0), 0.0);
  for (int i = 0; i < m; ++i) {
    for (int p = 0; p < k; ++p) {
      const double aip = a[idx(i, k, p)];
      for (int j = 0; j < n; ++j) c[idx(i, n, j)] += aip * b[idx(p, n, j)];
    }
  }
  return c;
}

std::vector<double> gemm_bt(int m, int n, int k, std::span<const float> a,
                            std::span<const float> b) {
  require(a.size() == idx(m, k, 0) && b.size() == idx(n, k, 0), "gemm_bt: operand sizes");
  std::vector<double> c(idx(m, n, 0), 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int p = 0; p < k; ++p) sum += static_cast<double>(a[idx(i, k, p)]) * b[idx(j, k, p)];
      c[idx(i, n, j)] = sum;
    }
  }
  return c;
}

TopK softmax_topk(std::span<const double> logits, int tokens, int experts, int top_k,
                  bool normalize) {
  require(logits.size() == idx(tokens, experts, 0), "softmax_topk: logits size");
  require(top_k >= 1 && top_k <= experts, "softmax_topk: top_k must be in [1, experts]");
  TopK out;
  out.expert.resize(idx(tokens, top_k, 0));
  out.prob.resize(idx(tokens, top_k, 0));
  std::vector<double> p(static_cast<std::size_t>(experts));
  std::vector<int> order(static_cast<std::size_t>(experts));
  for (int t = 0; t < tokens; ++t) {
    const auto row = logits.subspan(idx(t, experts, 0), static_cast<std::size_t>(experts));
    const double max = *std::max_element(row.begin(), row.end());
    double sum = 0.0;
    for (int e = 0; e < experts; ++e)
      sum += p[static_cast<std::size_t>(e)] = std::exp(row[static_cast<std::size_t>(e)] - max);
    for (double& v : p) v /= sum;
    std::iota(order.begin(), order.end(), 0);
    // Larger probability first; ties to the lower expert index (stable sort keeps index order).
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      return p[static_cast<std::size_t>(x)] > p[static_cast<std::size_t>(y)];
    });
    double kept = 0.0;
    for (int j = 0; j < top_k; ++j)
      kept += p[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])];
    for (int j = 0; j < top_k; ++j) {
      const int e = order[static_cast<std::size_t>(j)];
      out.expert[idx(t, top_k, j)] = e;
      out.prob[idx(t, top_k, j)] = p[static_cast<std::size_t>(e)] / (normalize ? kept : 1.0);
    }
  }
  return out;
}

TopK gate(std::span<const float> x, std::span<const float> w_gate, int tokens, int hidden,
          int experts, int top_k, bool normalize) {
  const std::vector<double> logits = gemm(tokens, experts, hidden, x, w_gate);
  return softmax_topk(logits, tokens, experts, top_k, normalize);
}

Routing route(std::span<const int> topk_expert, int tokens, int top_k, int experts, int capacity) {
  require(topk_expert.size() == idx(tokens, top_k, 0), "route: topk_expert size");
  Routing r;
  r.dest_row.assign(topk_expert.size(), -1);
  std::vector<int> seen(static_cast<std::size_t>(experts), 0);
  std::vector<int> rank(topk_expert.size(), 0);
  for (std::size_t a = 0; a < topk_expert.size(); ++a) {
    const int e = topk_expert[a];
    require(e >= -1 && e < experts, "route: expert index out of range");
    if (e < 0) continue;  // dropped before routing (choices_from_counts)
    rank[a] = seen[static_cast<std::size_t>(e)]++;
  }
  r.expert_count.resize(static_cast<std::size_t>(experts));
  r.expert_offset.assign(static_cast<std::size_t>(experts) + 1, 0);
  for (int e = 0; e < experts; ++e) {
    const int total = seen[static_cast<std::size_t>(e)];
    r.expert_count[static_cast<std::size_t>(e)] = capacity > 0 ? std::min(total, capacity) : total;
    r.expert_offset[static_cast<std::size_t>(e) + 1] =
        capacity > 0 ? (e + 1) * capacity : r.expert_offset[static_cast<std::size_t>(e)] + total;
  }
  for (std::size_t a = 0; a < topk_expert.size(); ++a) {
    if (topk_expert[a] < 0) continue;
    const auto e = static_cast<std::size_t>(topk_expert[a]);
    if (capacity > 0 && rank[a] >= capacity) continue;  // dropped
    r.dest_row[a] = r.expert_offset[e] + rank[a];
  }
  return r;
}

std::vector<double> permute(std::span<const float> x, int tokens, int top_k, int hidden,
                            std::span<const int> dest_row, int out_rows) {
  require(x.size() == idx(tokens, hidden, 0), "permute: x size");
  require(dest_row.size() == idx(tokens, top_k, 0), "permute: dest_row size");
  std::vector<double> out(idx(out_rows, hidden, 0), 0.0);
  for (std::size_t a = 0; a < dest_row.size(); ++a) {
    const int row = dest_row[a];
    if (row < 0) continue;
    require(row < out_rows, "permute: dest_row out of range");
    const auto t = static_cast<std::int64_t>(a) / top_k;
    for (int c = 0; c < hidden; ++c) out[idx(row, hidden, c)] = x[idx(t, hidden, c)];
  }
  return out;
}

std::vector<double> unpermute_combine(std::span<const float> expert_out,
                                      std::span<const int> dest_row, std::span<const float> prob,
                                      int tokens, int top_k, int hidden) {
  require(dest_row.size() == idx(tokens, top_k, 0) && prob.size() == dest_row.size(),
          "unpermute_combine: dest_row/prob size");
  std::vector<double> y(idx(tokens, hidden, 0), 0.0);
  for (std::size_t a = 0; a < dest_row.size(); ++a) {
    const int row = dest_row[a];
    if (row < 0) continue;
    require(idx(row + 1, hidden, 0) <= expert_out.size(), "unpermute_combine: row out of range");
    const auto t = static_cast<std::int64_t>(a) / top_k;
    for (int c = 0; c < hidden; ++c) {
      y[idx(t, hidden, c)] += static_cast<double>(prob[a]) * expert_out[idx(row, hidden, c)];
    }
  }
  return y;
}

double gelu(double x) {
  // tanh approximation (Hendrycks & Gimpel 2016), as GPT-2/Megatron use.
  constexpr double kSqrt2OverPi = 0.7978845608028654;
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

std::vector<double> expert_ffn(std::span<const float> x, std::span<const std::int64_t> row_offset,
                               int hidden, int ffn, std::span<const float> w1,
                               std::span<const float> w2, Activation activation) {
  require(row_offset.size() >= 2, "expert_ffn: row_offset needs experts + 1 entries");
  const auto experts = static_cast<std::int64_t>(row_offset.size()) - 1;
  const std::int64_t f1 = activation == Activation::swiglu ? 2LL * ffn : ffn;
  require(w1.size() == static_cast<std::size_t>(experts * hidden * f1), "expert_ffn: w1 size");
  require(w2.size() == static_cast<std::size_t>(experts * ffn * hidden), "expert_ffn: w2 size");
  const std::int64_t rows = row_offset.back();
  require(x.size() == idx(rows, hidden, 0), "expert_ffn: x size");
  std::vector<double> out(idx(rows, hidden, 0), 0.0);
  std::vector<double> h(static_cast<std::size_t>(f1));
  std::vector<double> act(static_cast<std::size_t>(ffn));
  for (std::int64_t e = 0; e < experts; ++e) {
    const float* w1e = w1.data() + e * hidden * f1;
    const float* w2e = w2.data() + e * ffn * hidden;
    for (std::int64_t r = row_offset[static_cast<std::size_t>(e)];
         r < row_offset[static_cast<std::size_t>(e) + 1]; ++r) {
      std::fill(h.begin(), h.end(), 0.0);
      for (int p = 0; p < hidden; ++p) {
        const double xv = x[idx(r, hidden, p)];
        for (std::int64_t j = 0; j < f1; ++j)
          h[static_cast<std::size_t>(j)] += xv * w1e[p * f1 + j];
      }
      for (int j = 0; j < ffn; ++j) {
        const auto u = static_cast<std::size_t>(j);
        act[u] = activation == Activation::gelu ? gelu(h[u])
                                                : silu(h[u]) * h[u + static_cast<std::size_t>(ffn)];
      }
      for (int j = 0; j < ffn; ++j) {
        const double a = act[static_cast<std::size_t>(j)];
        for (int c = 0; c < hidden; ++c) out[idx(r, hidden, c)] += a * w2e[j * hidden + c];
      }
    }
  }
  return out;
}

std::vector<double> softmax_rows(std::span<const float> in, int rows, int cols, double scale,
                                 bool causal, int rows_per_batch) {
  require(in.size() == idx(rows, cols, 0), "softmax_rows: size");
  require(rows_per_batch >= 1, "softmax_rows: rows_per_batch >= 1");
  std::vector<double> out(in.size(), 0.0);
  for (int r = 0; r < rows; ++r) {
    const int last = causal ? std::min(cols - 1, r % rows_per_batch) : cols - 1;
    double max = -std::numeric_limits<double>::infinity();
    for (int c = 0; c <= last; ++c) max = std::max(max, scale * in[idx(r, cols, c)]);
    double sum = 0.0;
    for (int c = 0; c <= last; ++c)
      sum += out[idx(r, cols, c)] = std::exp(scale * in[idx(r, cols, c)] - max);
    for (int c = 0; c <= last; ++c) out[idx(r, cols, c)] /= sum;
  }
  return out;
}

std::vector<double> attention(std::span<const float> q, std::span<const float> k,
                              std::span<const float> v, int batch, int seq, int head_dim,
                              double scale, bool causal) {
  const std::size_t per_head = idx(seq, head_dim, 0);
  require(q.size() == per_head * static_cast<std::size_t>(batch) && k.size() == q.size() &&
              v.size() == q.size(),
          "attention: q/k/v sizes");
  std::vector<double> out(q.size(), 0.0);
  for (int b = 0; b < batch; ++b) {
    const std::size_t off = per_head * static_cast<std::size_t>(b);
    const std::vector<double> s =
        gemm_bt(seq, seq, head_dim, q.subspan(off, per_head), k.subspan(off, per_head));
    const std::vector<float> s_f(s.begin(), s.end());  // scores are exact enough in float here
    const std::vector<double> p = softmax_rows(s_f, seq, seq, scale, causal, seq);
    for (int i = 0; i < seq; ++i) {
      for (int j = 0; j < seq; ++j) {
        const double pij = p[idx(i, seq, j)];
        if (pij == 0.0) continue;
        for (int d = 0; d < head_dim; ++d)
          out[off + idx(i, head_dim, d)] += pij * v[off + idx(j, head_dim, d)];
      }
    }
  }
  return out;
}

std::vector<double> layernorm(std::span<const float> x, std::span<const float> gamma,
                              std::span<const float> beta, int rows, int cols, double eps) {
  require(x.size() == idx(rows, cols, 0), "layernorm: x size");
  require(gamma.size() == static_cast<std::size_t>(cols) && beta.size() == gamma.size(),
          "layernorm: gamma/beta size");
  std::vector<double> y(x.size());
  for (int r = 0; r < rows; ++r) {
    double mean = 0.0;
    for (int c = 0; c < cols; ++c) mean += x[idx(r, cols, c)];
    mean /= cols;
    double var = 0.0;
    for (int c = 0; c < cols; ++c) var += (x[idx(r, cols, c)] - mean) * (x[idx(r, cols, c)] - mean);
    var /= cols;
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int c = 0; c < cols; ++c) {
      y[idx(r, cols, c)] = (x[idx(r, cols, c)] - mean) * inv * gamma[static_cast<std::size_t>(c)] +
                           beta[static_cast<std::size_t>(c)];
    }
  }
  return y;
}

double relative_error(std::span<const double> out, std::span<const double> ref) {
  require(out.size() == ref.size(), "relative_error: sizes differ");
  double diff = 0.0;
  double norm = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  if (norm == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / norm);
}

}  // namespace moesim::reference
