// moesim_bench_kernels: times moesim's MoE kernels (kernels/moe) over the shapes MoE task graphs
// ask for and writes a measurement file (traces/measured/README.md) for `moesim calibrate`.
//
// Google Benchmark with manual timing: every iteration is timed with CUDA events around one
// enqueue on a dedicated stream; 3 untimed warm-up runs first; inputs rotate over enough copies
// (>= 128 MiB in all, at most 1 GiB, 2..64 copies) that no iteration finds its operands in L2.
// Each row stores the median of its iterations and a verification flag: the timed kernel's own
// output, sampled (rows/columns), against a float64 recomputation from the same hashed inputs.
//
//   moesim_bench_kernels --out kernels.json [--quick] [--benchmark_filter=gemm/...]
// Without a usable GPU it says so and exits 0 without writing anything.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/kernels/bench_support.hpp"
#include "kernels/moe/moe_kernels.hpp"
#include "kernels/reference/reference_kernels.hpp"

namespace moesim::bench {
namespace {

using calibration::KernelMeasurement;
using calibration::Verification;
using kernels::ElementType;

constexpr double kTolerance = 1e-2;  // issue 6: relative error against float64 for 16-bit data

struct Context {
  cudaStream_t stream = nullptr;
  std::unique_ptr<kernels::BlasHandle> blas;
  std::vector<KernelMeasurement> rows;
};

DType dtype_of(ElementType t) { return t == ElementType::bf16 ? DType::bf16 : DType::fp16; }
const char* name_of(ElementType t) { return t == ElementType::bf16 ? "bf16" : "fp16"; }

int rotations_for(std::size_t bytes_per_set) {
  const double min_total = 128.0 * 1024 * 1024;
  const double max_total = 1024.0 * 1024 * 1024;
  int r = static_cast<int>(
      std::ceil(min_total / std::max<double>(1.0, static_cast<double>(bytes_per_set))));
  r = std::clamp(r, 2, 64);
  while (r > 1 && static_cast<double>(r) * static_cast<double>(bytes_per_set) > max_total) --r;
  return r;
}

/// Warm-up, then one CUDA-event-timed enqueue per benchmark iteration; returns the median (us).
double run_timed(benchmark::State& state, cudaStream_t stream, int rotations,
                 const std::function<void(int)>& enqueue) {
  for (int w = 0; w < 3; ++w) enqueue(w % rotations);
  MOESIM_DEVICE_CHECK(cudaStreamSynchronize(stream));
  EventTimer timer;
  std::vector<double> times;
  int i = 0;
  for (auto _ : state) {
    timer.start(stream);
    enqueue(i++ % rotations);
    const double us = timer.stop_us(stream);
    state.SetIterationTime(us * 1e-6);
    times.push_back(us);
  }
  const double med = median(times);
  state.counters["median_us"] = med;
  return med;
}

Verification verdict(const std::vector<double>& out, const std::vector<double>& ref) {
  return reference::relative_error(out, ref) <= kTolerance ? Verification::pass
                                                           : Verification::fail;
}

/// Forward kernels unless `traits` says otherwise (attention: its pass, mask and fusion).
void record(Context& ctx, benchmark::State& state, KernelKind kind, KernelShape shape,
            ElementType t, double time_us, Verification v, const char* variant,
            calibration::KernelTraits traits = {}) {
  ctx.rows.push_back({kind, shape, dtype_of(t), time_us, v, variant, traits});
  state.counters["verified"] = v == Verification::pass ? 1.0 : 0.0;
  if (kind == KernelKind::gemm || kind == KernelKind::attention) {
    const double mult = kind == KernelKind::gemm ? 2.0 : 4.0;
    state.counters["TFLOP/s"] = mult * static_cast<double>(shape.m) * static_cast<double>(shape.n) *
                                static_cast<double>(shape.k) * static_cast<double>(shape.batch) /
                                (time_us * 1e6);
  }
}

// ---- GEMM (batch 1: cublasGemmEx; batch E: strided batched, the capacity-layout expert GEMM) --

void bench_gemm(benchmark::State& state, Context& ctx, ElementType t, int batch, int m, int n,
                int k) {
  const std::int64_t a_el = static_cast<std::int64_t>(batch) * m * k;
  const std::int64_t b_el = static_cast<std::int64_t>(batch) * k * n;
  const std::int64_t c_el = static_cast<std::int64_t>(batch) * m * n;
  const int rot = rotations_for(static_cast<std::size_t>(2 * (a_el + b_el)));
  std::vector<std::unique_ptr<DeviceBuffer>> a, b;
  for (int r = 0; r < rot; ++r) {
    a.push_back(std::make_unique<DeviceBuffer>(2 * a_el));
    b.push_back(std::make_unique<DeviceBuffer>(2 * b_el));
    fill_random(t, a.back()->get(), a_el, 100 + 2 * r, 1.0F, ctx.stream);
    fill_random(t, b.back()->get(), b_el, 101 + 2 * r, 1.0F, ctx.stream);
  }
  DeviceBuffer c(2 * c_el);
  auto enqueue = [&](int r) {
    if (batch == 1) {
      kernels::gemm(*ctx.blas, t, m, n, k, a[r]->get(), b[r]->get(), c.get(), ctx.stream);
    } else {
      kernels::gemm_strided_batched(
          *ctx.blas, t, m, n, k, batch, a[r]->get(), static_cast<std::int64_t>(m) * k, b[r]->get(),
          static_cast<std::int64_t>(k) * n, c.get(), static_cast<std::int64_t>(m) * n, ctx.stream);
    }
  };
  const double us = run_timed(state, ctx.stream, rot, enqueue);
  // Verify rotation 0's output at sampled (batch, row, column) points.
  enqueue(0);
  MOESIM_DEVICE_CHECK(cudaStreamSynchronize(ctx.stream));
  std::vector<double> got, ref;
  for (const int bi : {0, batch - 1}) {
    for (const int i : {0, m / 2, m - 1}) {
      for (const int j : {0, n / 3, n - 1}) {
        double sum = 0.0;
        for (int p = 0; p < k; ++p) {
          sum += static_cast<double>(host_element(
                     t, 100,
                     static_cast<std::int64_t>(bi) * m * k + static_cast<std::int64_t>(i) * k + p,
                     1.0F)) *
                 host_element(
                     t, 101,
                     static_cast<std::int64_t>(bi) * k * n + static_cast<std::int64_t>(p) * n + j,
                     1.0F);
        }
        ref.push_back(sum);
        got.push_back(device_element(
            t, c.get(),
            static_cast<std::int64_t>(bi) * m * n + static_cast<std::int64_t>(i) * n + j));
      }
    }
  }
  record(ctx, state, KernelKind::gemm, {m, n, k, batch}, t, us, verdict(got, ref),
         batch == 1 ? "cublas" : "cublas-strided-batched");
}

// ---- Gate: router GEMM + fused softmax/top-k ---------------------------------------------------

void bench_gate(benchmark::State& state, Context& ctx, ElementType t, int tokens, int hidden,
                int experts, int top_k) {
  const std::int64_t x_el = static_cast<std::int64_t>(tokens) * hidden;
  const int rot = rotations_for(static_cast<std::size_t>(2 * x_el));
  std::vector<std::unique_ptr<DeviceBuffer>> x;
  for (int r = 0; r < rot; ++r) {
    x.push_back(std::make_unique<DeviceBuffer>(2 * x_el));
    fill_random(t, x.back()->get(), x_el, 200 + r, 1.0F, ctx.stream);
  }
  DeviceBuffer w(2 * static_cast<std::size_t>(hidden) * experts);
  fill_random(t, w.get(), static_cast<std::int64_t>(hidden) * experts, 299, 0.05F, ctx.stream);
  DeviceBuffer logits(sizeof(float) * tokens * experts), idx(sizeof(int) * tokens * top_k),
      prob(sizeof(float) * tokens * top_k);
  auto enqueue = [&](int r) {
    kernels::gate_forward(*ctx.blas, t, tokens, hidden, experts, top_k, x[r]->get(), w.get(),
                          logits.as<float>(), idx.as<int>(), prob.as<float>(), true, ctx.stream);
  };
  const double us = run_timed(state, ctx.stream, rot, enqueue);
  enqueue(0);
  MOESIM_DEVICE_CHECK(cudaStreamSynchronize(ctx.stream));
  // Sampled tokens: GPU logits against float64, and the GPU top-k against top-k of its logits.
  bool ok = true;
  std::vector<double> got, ref;
  for (const int tok : {0, tokens - 1}) {
    std::vector<float> row(static_cast<std::size_t>(experts));
    MOESIM_DEVICE_CHECK(cudaMemcpy(row.data(),
                                   logits.as<float>() + static_cast<std::int64_t>(tok) * experts,
                                   sizeof(float) * experts, cudaMemcpyDeviceToHost));
    for (int e = 0; e < experts; ++e) {
      double sum = 0.0;
      for (int p = 0; p < hidden; ++p) {
        sum += static_cast<double>(
                   host_element(t, 200, static_cast<std::int64_t>(tok) * hidden + p, 1.0F)) *
               host_element(t, 299, static_cast<std::int64_t>(p) * experts + e, 0.05F);
      }
      ref.push_back(sum);
      got.push_back(row[static_cast<std::size_t>(e)]);
    }
    const std::vector<double> row_d(row.begin(), row.end());
    const auto expect = reference::softmax_topk(row_d, 1, experts, top_k, true);
    std::vector<int> gpu_idx(static_cast<std::size_t>(top_k));
    MOESIM_DEVICE_CHECK(cudaMemcpy(gpu_idx.data(),
                                   idx.as<int>() + static_cast<std::int64_t>(tok) * top_k,
                                   sizeof(int) * top_k, cudaMemcpyDeviceToHost));
    ok = ok && gpu_idx == expect.expert;
  }
  const Verification v = ok ? verdict(got, ref) : Verification::fail;
  record(ctx, state, KernelKind::gate, {tokens, experts, top_k, 1}, t, us, v, "cublas+fused-topk");
}

// ---- Permute (dropless) and un-permute/combine --------------------------------------------------

std::vector<int> spread_choices(int tokens, int top_k, int experts) {
  // Token t picks experts (t*7 + j*3) % E, j < top_k: distinct for top_k <= E/3, balanced.
  std::vector<int> out;
  for (int tok = 0; tok < tokens; ++tok) {
    for (int j = 0; j < top_k; ++j) out.push_back((tok * 7 + j * (experts / top_k)) % experts);
  }
  return out;
}

void bench_permute(benchmark::State& state, Context& ctx, ElementType t, int tokens, int hidden,
                   int top_k, bool unpermute) {
  const int experts = 64;
  const int assignments = tokens * top_k;
  const std::vector<int> choices = spread_choices(tokens, top_k, experts);
  const auto routing = reference::route(choices, tokens, top_k, experts, 0);
  DeviceBuffer dest(sizeof(int) * assignments), prob(sizeof(float) * assignments);
  MOESIM_DEVICE_CHECK(cudaMemcpy(dest.get(), routing.dest_row.data(), sizeof(int) * assignments,
                                 cudaMemcpyHostToDevice));
  std::vector<float> p(static_cast<std::size_t>(assignments));
  for (int a = 0; a < assignments; ++a)
    p[static_cast<std::size_t>(a)] = 0.5F + 0.5F * hashed_uniform(7, static_cast<std::uint64_t>(a));
  MOESIM_DEVICE_CHECK(
      cudaMemcpy(prob.get(), p.data(), sizeof(float) * assignments, cudaMemcpyHostToDevice));
  const std::int64_t in_el = static_cast<std::int64_t>(unpermute ? assignments : tokens) * hidden;
  const std::int64_t out_el = static_cast<std::int64_t>(unpermute ? tokens : assignments) * hidden;
  const int rot = rotations_for(static_cast<std::size_t>(2 * in_el));
  std::vector<std::unique_ptr<DeviceBuffer>> in;
  for (int r = 0; r < rot; ++r) {
    in.push_back(std::make_unique<DeviceBuffer>(2 * in_el));
    fill_random(t, in.back()->get(), in_el, 300 + r, 1.0F, ctx.stream);
  }
  DeviceBuffer out(2 * out_el);
  auto enqueue = [&](int r) {
    if (unpermute) {
      kernels::unpermute_combine(t, in[r]->get(), dest.as<int>(), prob.as<float>(), tokens, top_k,
                                 hidden, out.get(), ctx.stream);
    } else {
      kernels::permute(t, in[r]->get(), tokens, top_k, hidden, dest.as<int>(), out.get(),
                       assignments, ctx.stream);
    }
  };
  const double us = run_timed(state, ctx.stream, rot, enqueue);
  enqueue(0);
  MOESIM_DEVICE_CHECK(cudaStreamSynchronize(ctx.stream));
  std::vector<double> got, ref;
  for (const int tok : {0, tokens / 2, tokens - 1}) {
    for (const int c : {0, hidden - 1}) {
      if (unpermute) {
        double sum = 0.0;
        for (int j = 0; j < top_k; ++j) {
          const int a = tok * top_k + j;
          sum += static_cast<double>(p[static_cast<std::size_t>(a)]) *
                 host_element(
                     t, 300,
                     static_cast<std::int64_t>(routing.dest_row[static_cast<std::size_t>(a)]) *
                             hidden +
                         c,
                     1.0F);
        }
        ref.push_back(sum);
        got.push_back(device_element(t, out.get(), static_cast<std::int64_t>(tok) * hidden + c));
      } else {
        for (int j = 0; j < top_k; ++j) {
          const int row = routing.dest_row[static_cast<std::size_t>(tok * top_k + j)];
          ref.push_back(host_element(t, 300, static_cast<std::int64_t>(tok) * hidden + c, 1.0F));
          got.push_back(device_element(t, out.get(), static_cast<std::int64_t>(row) * hidden + c));
        }
      }
    }
  }
  record(ctx, state, unpermute ? KernelKind::unpermute : KernelKind::permute,
         {static_cast<std::int64_t>(assignments), hidden, top_k, 1}, t, us, verdict(got, ref),
         unpermute ? "weighted-combine" : "dropless");
}

// ---- Layernorm and softmax --------------------------------------------------------------------

void bench_rows(benchmark::State& state, Context& ctx, ElementType t, KernelKind kind, int rows,
                int cols) {
  const std::int64_t el = static_cast<std::int64_t>(rows) * cols;
  const int rot = rotations_for(static_cast<std::size_t>(2 * el));
  std::vector<std::unique_ptr<DeviceBuffer>> x;
  for (int r = 0; r < rot; ++r) {
    x.push_back(std::make_unique<DeviceBuffer>(2 * el));
    fill_random(t, x.back()->get(), el, 400 + r, 2.0F, ctx.stream);
  }
  DeviceBuffer gamma(2 * static_cast<std::size_t>(cols)), beta(2 * static_cast<std::size_t>(cols)),
      y(2 * el);
  fill_random(t, gamma.get(), cols, 498, 1.0F, ctx.stream);
  fill_random(t, beta.get(), cols, 499, 1.0F, ctx.stream);
  auto enqueue = [&](int r) {
    if (kind == KernelKind::layernorm) {
      kernels::layernorm(t, x[r]->get(), gamma.get(), beta.get(), y.get(), rows, cols, 1e-5F,
                         ctx.stream);
    } else {
      kernels::softmax_rows(t, x[r]->get(), y.get(), rows, cols, 1.0F, false, 1, ctx.stream);
    }
  };
  const double us = run_timed(state, ctx.stream, rot, enqueue);
  enqueue(0);
  MOESIM_DEVICE_CHECK(cudaStreamSynchronize(ctx.stream));
  std::vector<double> got, ref;
  for (const int row : {0, rows - 1}) {
    std::vector<float> xr(static_cast<std::size_t>(cols)), g(xr.size()), b(xr.size());
    for (int c = 0; c < cols; ++c) {
      xr[static_cast<std::size_t>(c)] =
          host_element(t, 400, static_cast<std::int64_t>(row) * cols + c, 2.0F);
      g[static_cast<std::size_t>(c)] = host_element(t, 498, c, 1.0F);
      b[static_cast<std::size_t>(c)] = host_element(t, 499, c, 1.0F);
    }
    const std::vector<double> r = kind == KernelKind::layernorm
                                      ? reference::layernorm(xr, g, b, 1, cols, 1e-5)
                                      : reference::softmax_rows(xr, 1, cols, 1.0, false, 1);
    ref.insert(ref.end(), r.begin(), r.end());
    for (int c = 0; c < cols; ++c)
      got.push_back(device_element(t, y.get(), static_cast<std::int64_t>(row) * cols + c));
  }
  record(ctx, state, kind, {rows, cols, 0, 1}, t, us, verdict(got, ref), "moesim");
}

// ---- Attention (QK^T GEMM, softmax, PV GEMM) ----------------------------------------------------

constexpr std::uint32_t kSeedQ = 500, kSeedK = 501, kSeedV = 502, kSeedDo = 503;

/// Row i of one head's probabilities P = softmax(scale Q K^T) over keys 0..last, in float64 from
/// the hashed inputs; `base` = the head's first element.
std::vector<double> host_probabilities(ElementType t, std::int64_t base, int i, int last, int d,
                                       float scale) {
  std::vector<double> p(static_cast<std::size_t>(last + 1));
  double max = -1e300;
  for (int j = 0; j <= last; ++j) {
    double dot = 0.0;
    for (int c = 0; c < d; ++c) {
      dot += static_cast<double>(
                 host_element(t, kSeedQ, base + static_cast<std::int64_t>(i) * d + c, 1.0F)) *
             host_element(t, kSeedK, base + static_cast<std::int64_t>(j) * d + c, 1.0F);
    }
    p[static_cast<std::size_t>(j)] = scale * dot;
    max = std::max(max, p[static_cast<std::size_t>(j)]);
  }
  double sum = 0.0;
  for (double& x : p) sum += x = std::exp(x - max);
  for (double& x : p) x /= sum;
  return p;
}

struct TimedCheck {
  double us = 0.0;
  Verification verified = Verification::unchecked;
};

/// Times `enqueue` (one input set: the scores tensor alone, heads x seq^2, exceeds L2 for every
/// swept shape), runs it once more, then checks rows 0 and seq - 1 of the first and the last
/// head: `check_row(base, i, last, p, got, ref)` appends the device's values of row i and their
/// float64 references, given the head's first element `base`, the row's last key and its
/// probabilities p.
template <typename CheckRow>
TimedCheck time_and_check_rows(benchmark::State& state, Context& ctx,
                               const std::function<void(int)>& enqueue, ElementType t, int heads,
                               int seq, int d, bool causal, float scale, CheckRow check_row) {
  const double us = run_timed(state, ctx.stream, 1, enqueue);
  enqueue(0);
  MOESIM_DEVICE_CHECK(cudaStreamSynchronize(ctx.stream));
  std::vector<double> got, ref;
  for (const int h : {0, heads - 1}) {
    for (const int i : {0, seq - 1}) {
      const std::int64_t base = static_cast<std::int64_t>(h) * seq * d;
      const int last = causal ? i : seq - 1;
      check_row(base, i, last, host_probabilities(t, base, i, last, d, scale), got, ref);
    }
  }
  return TimedCheck{us, verdict(got, ref)};
}

struct AttentionInputs {
  DeviceBuffer q, k, v;
  AttentionInputs(ElementType t, std::int64_t el, cudaStream_t stream)
      : q(2 * el), k(2 * el), v(2 * el) {
    fill_random(t, q.get(), el, kSeedQ, 1.0F, stream);
    fill_random(t, k.get(), el, kSeedK, 1.0F, stream);
    fill_random(t, v.get(), el, kSeedV, 1.0F, stream);
  }
};

/// Every kernel here is unfused: the scores GEMM computes every tile, the softmax masks them.
calibration::KernelTraits unfused(OpDirection pass, bool causal) {
  return calibration::KernelTraits{pass, causal, /*fused=*/false};
}

void bench_attention(benchmark::State& state, Context& ctx, ElementType t, int heads, int seq,
                     int d, bool causal) {
  const std::int64_t el = static_cast<std::int64_t>(heads) * seq * d;
  const AttentionInputs in(t, el, ctx.stream);
  DeviceBuffer o(2 * el), scores(2 * static_cast<std::size_t>(heads) * seq * seq);
  const float scale = 1.0F / std::sqrt(static_cast<float>(d));
  auto enqueue = [&](int) {
    kernels::attention_forward(*ctx.blas, t, heads, seq, d, in.q.get(), in.k.get(), in.v.get(),
                               scores.get(), o.get(), scale, causal, ctx.stream);
  };
  const TimedCheck r = time_and_check_rows(
      state, ctx, enqueue, t, heads, seq, d, causal, scale,
      [&](std::int64_t base, int i, int last, const std::vector<double>& p,
          std::vector<double>& got, std::vector<double>& ref) {
        const auto at = [&](std::int64_t row, int c) { return base + row * d + c; };
        for (int c = 0; c < d; ++c) {
          double acc = 0.0;
          for (int j = 0; j <= last; ++j)
            acc += p[static_cast<std::size_t>(j)] * host_element(t, kSeedV, at(j, c), 1.0F);
          ref.push_back(acc);
          got.push_back(device_element(t, o.get(), at(i, c)));
        }
      });
  record(ctx, state, KernelKind::attention, {seq, seq, d, heads}, t, r.us, r.verified,
         causal ? "cublas-causal" : "cublas", unfused(OpDirection::forward, causal));
}

/// The backward of bench_attention's kernel (P recomputed, then dV, dP, dS, dQ, dK). Verified on
/// sampled rows of dQ: dQ_i = scale sum_j P_ij (dP_ij - D_i) K_j with dP_ij = dO_i . V_j and
/// D_i = sum_j P_ij dP_ij; dK and dV are left to the GPU tests (tests/kernels), which check every
/// gradient of small shapes against the float64 reference.
void bench_attention_backward(benchmark::State& state, Context& ctx, ElementType t, int heads,
                              int seq, int d, bool causal) {
  const std::int64_t el = static_cast<std::int64_t>(heads) * seq * d;
  const std::size_t score_bytes = 2 * static_cast<std::size_t>(heads) * seq * seq;
  const AttentionInputs in(t, el, ctx.stream);
  DeviceBuffer d_o(2 * el), dq(2 * el), dk(2 * el), dv(2 * el), scores(score_bytes),
      d_scores(score_bytes);
  fill_random(t, d_o.get(), el, kSeedDo, 1.0F, ctx.stream);
  const float scale = 1.0F / std::sqrt(static_cast<float>(d));
  auto enqueue = [&](int) {
    kernels::attention_backward(*ctx.blas, t, heads, seq, d, in.q.get(), in.k.get(), in.v.get(),
                                d_o.get(), scores.get(), d_scores.get(), dq.get(), dk.get(),
                                dv.get(), scale, causal, ctx.stream);
  };
  const TimedCheck r = time_and_check_rows(
      state, ctx, enqueue, t, heads, seq, d, causal, scale,
      [&](std::int64_t base, int i, int last, const std::vector<double>& p,
          std::vector<double>& got, std::vector<double>& ref) {
        const auto at = [&](std::int64_t row, int c) { return base + row * d + c; };
        std::vector<double> dp(p.size());
        double rowsum = 0.0;
        for (int j = 0; j <= last; ++j) {
          double dot = 0.0;
          for (int c = 0; c < d; ++c) {
            dot += static_cast<double>(host_element(t, kSeedDo, at(i, c), 1.0F)) *
                   host_element(t, kSeedV, at(j, c), 1.0F);
          }
          dp[static_cast<std::size_t>(j)] = dot;
          rowsum += p[static_cast<std::size_t>(j)] * dot;
        }
        for (int c = 0; c < d; ++c) {
          double acc = 0.0;
          for (int j = 0; j <= last; ++j) {
            const auto jj = static_cast<std::size_t>(j);
            acc += p[jj] * (dp[jj] - rowsum) * host_element(t, kSeedK, at(j, c), 1.0F);
          }
          ref.push_back(scale * acc);
          got.push_back(device_element(t, dq.get(), at(i, c)));
        }
      });
  record(ctx, state, KernelKind::attention, {seq, seq, d, heads}, t, r.us, r.verified,
         causal ? "cublas-causal-backward" : "cublas-backward",
         unfused(OpDirection::backward, causal));
}

// ---- Registration ------------------------------------------------------------------------------

void register_all(Context& ctx, bool quick) {
  auto add = [](const std::string& name, std::function<void(benchmark::State&)> f) {
    benchmark::RegisterBenchmark(name.c_str(), [f](benchmark::State& s) { f(s); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond)
        ->MinTime(0.2);
  };
  const std::vector<ElementType> types =
      quick ? std::vector<ElementType>{ElementType::bf16}
            : std::vector<ElementType>{ElementType::bf16, ElementType::fp16};
  // Expert and dense GEMM shapes (n, k) of the model presets: GPT-style 768/3072, Mixtral
  // 4096/14336, 6144/16384, DeepSeek-V3 expert 7168/2048, both layer directions.
  const std::vector<std::pair<int, int>> nk =
      quick ? std::vector<std::pair<int, int>>{{14336, 4096}}
            : std::vector<std::pair<int, int>>{{3072, 768},   {768, 3072},   {14336, 4096},
                                               {4096, 14336}, {16384, 6144}, {6144, 16384},
                                               {2048, 7168},  {7168, 2048}};
  std::vector<int> ms;
  for (int m = 1; m <= 16384; m *= quick ? 64 : 2) ms.push_back(m);
  for (const ElementType t : types) {
    for (const auto& [n, k] : nk) {
      for (const int m : ms) {
        add("gemm/" + std::string(name_of(t)) + "/m" + std::to_string(m) + "_n" +
                std::to_string(n) + "_k" + std::to_string(k),
            [&ctx, t, m, n = n, k = k](benchmark::State& s) { bench_gemm(s, ctx, t, 1, m, n, k); });
      }
      for (const int experts : {8, 64}) {
        for (const int m : {16, 128, 1024, 4096}) {
          const double bytes = 2.0 * experts *
                               (static_cast<double>(m) * k + static_cast<double>(k) * n +
                                static_cast<double>(m) * n);
          if (bytes > 24e9 || (quick && experts > 8)) continue;  // fits an 80 GB GPU with rotation
          add("gemm_batched/" + std::string(name_of(t)) + "/e" + std::to_string(experts) + "_m" +
                  std::to_string(m) + "_n" + std::to_string(n) + "_k" + std::to_string(k),
              [&ctx, t, experts, m, n = n, k = k](benchmark::State& s) {
                bench_gemm(s, ctx, t, experts, m, n, k);
              });
        }
      }
    }
    for (const int tokens :
         quick ? std::vector<int>{4096} : std::vector<int>{256, 1024, 4096, 16384}) {
      for (const int hidden : {4096, 7168}) {
        for (const auto& [experts, top_k] :
             std::vector<std::pair<int, int>>{{8, 2}, {64, 8}, {256, 8}}) {
          add("gate/" + std::string(name_of(t)) + "/t" + std::to_string(tokens) + "_h" +
                  std::to_string(hidden) + "_e" + std::to_string(experts) + "_k" +
                  std::to_string(top_k),
              [&ctx, t, tokens, hidden, e = experts, kk = top_k](benchmark::State& s) {
                bench_gate(s, ctx, t, tokens, hidden, e, kk);
              });
        }
        for (const int top_k : {2, 8}) {
          for (const bool un : {false, true}) {
            add(std::string(un ? "unpermute/" : "permute/") + name_of(t) + "/t" +
                    std::to_string(tokens) + "_h" + std::to_string(hidden) + "_k" +
                    std::to_string(top_k),
                [&ctx, t, tokens, hidden, top_k, un](benchmark::State& s) {
                  bench_permute(s, ctx, t, tokens, hidden, top_k, un);
                });
          }
        }
        for (const KernelKind kind : {KernelKind::layernorm, KernelKind::softmax}) {
          add(std::string(to_string(kind)) + "/" + name_of(t) + "/r" + std::to_string(tokens) +
                  "_c" + std::to_string(hidden),
              [&ctx, t, kind, tokens, hidden](benchmark::State& s) {
                bench_rows(s, ctx, t, kind, tokens, hidden);
              });
        }
      }
    }
    for (const auto& [heads, seq] :
         std::vector<std::pair<int, int>>{{32, 1024}, {32, 4096}, {64, 2048}}) {
      if (quick && seq > 1024) continue;
      for (const bool causal : {false, true}) {
        add("attention/" + std::string(name_of(t)) + "/h" + std::to_string(heads) + "_s" +
                std::to_string(seq) + "_d128" + (causal ? "_causal" : ""),
            [&ctx, t, heads = heads, seq = seq, causal](benchmark::State& s) {
              bench_attention(s, ctx, t, heads, seq, 128, causal);
            });
        add("attention_backward/" + std::string(name_of(t)) + "/h" + std::to_string(heads) + "_s" +
                std::to_string(seq) + "_d128" + (causal ? "_causal" : ""),
            [&ctx, t, heads = heads, seq = seq, causal](benchmark::State& s) {
              bench_attention_backward(s, ctx, t, heads, seq, 128, causal);
            });
      }
    }
  }
}

}  // namespace
}  // namespace moesim::bench

int main(int argc, char** argv) {
  using namespace moesim;
  std::string out;
  bool quick = false;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--out=", 6) == 0) {
      out = argv[i] + 6;
    } else if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (!kernels::cuda_device_available()) {
    std::fprintf(stderr, "moesim_bench_kernels: no usable CUDA device; nothing measured\n");
    return 0;
  }
  try {
    bench::Context ctx;
    MOESIM_DEVICE_CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    ctx.blas = std::make_unique<kernels::BlasHandle>();
    bench::register_all(ctx, quick);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (!out.empty()) {
      calibration::MeasurementSet set;
      set.provenance = bench::device_provenance("moesim_bench_kernels", 0);
      set.provenance.notes =
          "median of CUDA-event-timed iterations after 3 warm-ups, rotating inputs; verified = "
          "sampled outputs of the timed kernel vs float64, relative error <= 1e-2";
      set.kernels = ctx.rows;
      bench::write_measurements(set, out);
      std::fprintf(stderr, "wrote %zu kernel rows to %s\n", ctx.rows.size(), out.c_str());
    }
    (void)cudaStreamDestroy(ctx.stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moesim_bench_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
