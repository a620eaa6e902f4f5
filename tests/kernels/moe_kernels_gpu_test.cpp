// GPU kernels against the float64 CPU references (label gpu): relative error
// ||out - ref|| / ||ref|| <= 1e-2 on fresh random inputs (never zeros), for bf16 and fp16.
// Every test skips itself when no CUDA device is usable.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/moe/moe_kernels.hpp"
#include "kernels/reference/backward_kernels.hpp"
#include "kernels/reference/half_precision.hpp"
#include "kernels/reference/reference_kernels.hpp"

namespace moesim::kernels {
namespace {

namespace ref = moesim::reference;
constexpr double kTolerance = 1e-2;

#define MOESIM_SKIP_WITHOUT_GPU() \
  if (!cuda_device_available()) GTEST_SKIP() << "no usable CUDA device"

void check(cudaError_t err) { ASSERT_EQ(err, cudaSuccess) << cudaGetErrorString(err); }

/// Device allocation freed on scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) {
    if (bytes > 0 && cudaMalloc(&ptr_, bytes) != cudaSuccess)
      throw DeviceError("cudaMalloc failed");
  }
  ~DeviceBuffer() { (void)cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

std::uint16_t to_bits(ElementType t, float v) {
  return t == ElementType::bf16 ? ref::float_to_bf16_bits(v) : ref::float_to_fp16_bits(v);
}
float from_bits(ElementType t, std::uint16_t b) {
  return t == ElementType::bf16 ? ref::bf16_bits_to_float(b) : ref::fp16_bits_to_float(b);
}

/// Random 16-bit tensor: uniform in [-scale, scale] away from 0, rounded to the dtype. Keeps
/// the rounded floats for the reference and uploads the bits.
struct Tensor {
  std::vector<float> host;
  DeviceBuffer device;
  Tensor(ElementType t, std::size_t n, std::mt19937& rng, float scale = 1.0F)
      : host(n), device(n * 2) {
    std::uniform_real_distribution<float> mag(0.05F, 1.0F);
    std::bernoulli_distribution sign(0.5);
    std::vector<std::uint16_t> bits(n);
    for (std::size_t i = 0; i < n; ++i) {
      const float v = (sign(rng) ? -1.0F : 1.0F) * mag(rng) * scale;
      bits[i] = to_bits(t, v);
      host[i] = from_bits(t, bits[i]);
    }
    if (n > 0) cudaMemcpy(device.get(), bits.data(), n * 2, cudaMemcpyHostToDevice);
  }
  const void* ptr() const { return device.get(); }
};

std::vector<double> download(ElementType t, const void* device, std::size_t n) {
  std::vector<std::uint16_t> bits(n);
  cudaMemcpy(bits.data(), device, n * 2, cudaMemcpyDeviceToHost);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = from_bits(t, bits[i]);
  return out;
}

template <typename T>
std::vector<T> download_raw(const T* device, std::size_t n) {
  std::vector<T> out(n);
  cudaMemcpy(out.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost);
  return out;
}

class MoeKernelsGpu : public ::testing::TestWithParam<ElementType> {
 protected:
  void SetUp() override {
    MOESIM_SKIP_WITHOUT_GPU();
    blas_ = std::make_unique<BlasHandle>();
  }
  ElementType type() const { return GetParam(); }
  std::unique_ptr<BlasHandle> blas_;
  std::mt19937 rng_{20260601};  // fixed seed: reproducible, yet non-trivial inputs
};

TEST_P(MoeKernelsGpu, Gemm) {
  const int m = 64, n = 96, k = 128;
  Tensor a(type(), m * k, rng_), b(type(), k * n, rng_), bt(type(), n * k, rng_);
  DeviceBuffer c(m * n * 2);
  gemm(*blas_, type(), m, n, k, a.ptr(), b.ptr(), c.get(), nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_LE(
      ref::relative_error(download(type(), c.get(), m * n), ref::gemm(m, n, k, a.host, b.host)),
      kTolerance);
  gemm(*blas_, type(), m, n, k, a.ptr(), bt.ptr(), c.get(), nullptr, /*b_transposed=*/true);
  check(cudaDeviceSynchronize());
  EXPECT_LE(
      ref::relative_error(download(type(), c.get(), m * n), ref::gemm_bt(m, n, k, a.host, bt.host)),
      kTolerance);
}

TEST_P(MoeKernelsGpu, GateSoftmaxTopK) {
  const int tokens = 200, hidden = 256, experts = 64, top_k = 4;
  Tensor x(type(), tokens * hidden, rng_), w(type(), hidden * experts, rng_, 0.1F);
  DeviceBuffer logits(sizeof(float) * tokens * experts);
  DeviceBuffer idx(sizeof(int) * tokens * top_k), prob(sizeof(float) * tokens * top_k);
  gate_forward(*blas_, type(), tokens, hidden, experts, top_k, x.ptr(), w.ptr(),
               logits.get<float>(), idx.get<int>(), prob.get<float>(), true, nullptr);
  check(cudaDeviceSynchronize());
  const std::vector<float> gpu_logits = download_raw(logits.get<float>(), tokens * experts);
  const std::vector<double> logits_d(gpu_logits.begin(), gpu_logits.end());
  EXPECT_LE(ref::relative_error(logits_d, ref::gemm(tokens, experts, hidden, x.host, w.host)),
            kTolerance);
  // Top-k on the GPU's own logits must pick exactly the reference's experts (no near-tie
  // ambiguity from GEMM rounding), with the same probabilities.
  const ref::TopK expect = ref::softmax_topk(logits_d, tokens, experts, top_k, true);
  EXPECT_EQ(download_raw(idx.get<int>(), tokens * top_k), expect.expert);
  const std::vector<float> p = download_raw(prob.get<float>(), tokens * top_k);
  EXPECT_LE(ref::relative_error(std::vector<double>(p.begin(), p.end()), expect.prob), 1e-5);
}

std::vector<int> random_choices(std::mt19937& rng, int tokens, int top_k, int experts) {
  // Distinct experts per token, skewed toward low indices so some experts overflow capacity.
  std::vector<int> out;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int t = 0; t < tokens; ++t) {
    std::vector<int> chosen;
    while (static_cast<int>(chosen.size()) < top_k) {
      const int e = static_cast<int>(std::pow(u(rng), 2.0) * experts);
      if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
    }
    out.insert(out.end(), chosen.begin(), chosen.end());
  }
  return out;
}

void run_route_permute_combine(ElementType type, std::mt19937& rng, int capacity) {
  const int tokens = 700, top_k = 2, experts = 8, hidden = 136;
  const std::vector<int> choices = random_choices(rng, tokens, top_k, experts);
  const ref::Routing expect = ref::route(choices, tokens, top_k, experts, capacity);
  const int out_rows = capacity > 0 ? experts * capacity : tokens * top_k;
  DeviceBuffer d_choices(sizeof(int) * choices.size());
  cudaMemcpy(d_choices.get(), choices.data(), sizeof(int) * choices.size(), cudaMemcpyHostToDevice);
  DeviceBuffer dest(sizeof(int) * choices.size()), count(sizeof(int) * experts),
      offset(sizeof(int) * (experts + 1));
  const std::size_t ws_bytes = route_workspace_bytes(tokens * top_k, experts);
  DeviceBuffer ws(ws_bytes);
  route(d_choices.get<int>(), tokens, top_k, experts, capacity, dest.get<int>(), count.get<int>(),
        offset.get<int>(), ws.get(), ws_bytes, nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_EQ(download_raw(dest.get<int>(), choices.size()), expect.dest_row);
  EXPECT_EQ(download_raw(count.get<int>(), experts), expect.expert_count);
  EXPECT_EQ(download_raw(offset.get<int>(), experts + 1), expect.expert_offset);

  Tensor x(type, tokens * hidden, rng);
  DeviceBuffer permuted(static_cast<std::size_t>(out_rows) * hidden * 2);
  permute(type, x.ptr(), tokens, top_k, hidden, dest.get<int>(), permuted.get(), out_rows, nullptr);
  check(cudaDeviceSynchronize());
  const std::vector<double> got = download(type, permuted.get(), out_rows * hidden);
  EXPECT_LE(ref::relative_error(
                got, ref::permute(x.host, tokens, top_k, hidden, expect.dest_row, out_rows)),
            kTolerance);

  // Combine: expert outputs are fresh random rows, probabilities random in (0, 1).
  Tensor expert_out(type, static_cast<std::size_t>(out_rows) * hidden, rng);
  std::vector<float> prob(choices.size());
  std::uniform_real_distribution<float> p(0.05F, 1.0F);
  for (float& v : prob) v = p(rng);
  DeviceBuffer d_prob(sizeof(float) * prob.size());
  cudaMemcpy(d_prob.get(), prob.data(), sizeof(float) * prob.size(), cudaMemcpyHostToDevice);
  DeviceBuffer y(static_cast<std::size_t>(tokens) * hidden * 2);
  unpermute_combine(type, expert_out.ptr(), dest.get<int>(), d_prob.get<float>(), tokens, top_k,
                    hidden, y.get(), nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_LE(ref::relative_error(download(type, y.get(), tokens * hidden),
                                ref::unpermute_combine(expert_out.host, expect.dest_row, prob,
                                                       tokens, top_k, hidden)),
            kTolerance);
}

TEST_P(MoeKernelsGpu, CapacityPermuteAndCombine) { run_route_permute_combine(type(), rng_, 150); }
TEST_P(MoeKernelsGpu, DroplessPermuteAndCombine) { run_route_permute_combine(type(), rng_, 0); }

void run_expert_ffn(BlasHandle& blas, ElementType type, std::mt19937& rng, Activation act,
                    GemmForm form) {
  const int hidden = 64, ffn = 96;
  const std::vector<std::int64_t> offsets{0, 5, 5, 22, 32, 33};  // 5 experts, one empty
  const int experts = static_cast<int>(offsets.size()) - 1;
  const std::int64_t rows = offsets.back();
  const int f1 = ffn_first_width(act, ffn);
  Tensor x(type, rows * hidden, rng);
  Tensor w1(type, static_cast<std::size_t>(experts) * hidden * f1, rng, 1.0F / 8);
  Tensor w2(type, static_cast<std::size_t>(experts) * ffn * hidden, rng, 1.0F / 8);
  DeviceBuffer h1(rows * f1 * 2), a(rows * ffn * 2), out(rows * hidden * 2);
  expert_ffn(blas, type, act, form, x.ptr(), offsets, hidden, ffn, w1.ptr(), w2.ptr(), h1.get(),
             a.get(), out.get(), nullptr);
  check(cudaDeviceSynchronize());
  const ref::Activation ref_act =
      act == Activation::gelu ? ref::Activation::gelu : ref::Activation::swiglu;
  EXPECT_LE(
      ref::relative_error(download(type, out.get(), rows * hidden),
                          ref::expert_ffn(x.host, offsets, hidden, ffn, w1.host, w2.host, ref_act)),
      kTolerance);
}

TEST_P(MoeKernelsGpu, ExpertFfnGeluPerExpert) {
  run_expert_ffn(*blas_, type(), rng_, Activation::gelu, GemmForm::per_expert);
}
TEST_P(MoeKernelsGpu, ExpertFfnGeluGrouped) {
  run_expert_ffn(*blas_, type(), rng_, Activation::gelu, GemmForm::grouped);
}
TEST_P(MoeKernelsGpu, ExpertFfnSwiGluPerExpert) {
  run_expert_ffn(*blas_, type(), rng_, Activation::swiglu, GemmForm::per_expert);
}
TEST_P(MoeKernelsGpu, ExpertFfnSwiGluGrouped) {
  run_expert_ffn(*blas_, type(), rng_, Activation::swiglu, GemmForm::grouped);
}

TEST_P(MoeKernelsGpu, AttentionCausalAndFull) {
  const int batch = 3, seq = 40, d = 32;
  const float scale = 1.0F / std::sqrt(static_cast<float>(d));
  Tensor q(type(), batch * seq * d, rng_), k(type(), batch * seq * d, rng_),
      v(type(), batch * seq * d, rng_);
  DeviceBuffer scores(static_cast<std::size_t>(batch) * seq * seq * 2), o(batch * seq * d * 2);
  for (const bool causal : {false, true}) {
    attention_forward(*blas_, type(), batch, seq, d, q.ptr(), k.ptr(), v.ptr(), scores.get(),
                      o.get(), scale, causal, nullptr);
    check(cudaDeviceSynchronize());
    EXPECT_LE(
        ref::relative_error(download(type(), o.get(), batch * seq * d),
                            ref::attention(q.host, k.host, v.host, batch, seq, d, scale, causal)),
        kTolerance)
        << "causal=" << causal;
  }
}

TEST_P(MoeKernelsGpu, SoftmaxRows) {
  const int rows = 50, cols = 300;
  Tensor in(type(), rows * cols, rng_, 4.0F);
  DeviceBuffer out(rows * cols * 2);
  softmax_rows(type(), in.ptr(), out.get(), rows, cols, 0.5F, true, 25, nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_LE(ref::relative_error(download(type(), out.get(), rows * cols),
                                ref::softmax_rows(in.host, rows, cols, 0.5, true, 25)),
            kTolerance);
}

TEST_P(MoeKernelsGpu, Layernorm) {
  const int rows = 33, cols = 1000;
  Tensor x(type(), rows * cols, rng_), gamma(type(), cols, rng_), beta(type(), cols, rng_);
  DeviceBuffer y(rows * cols * 2);
  layernorm(type(), x.ptr(), gamma.ptr(), beta.ptr(), y.get(), rows, cols, 1e-5F, nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_LE(ref::relative_error(download(type(), y.get(), rows * cols),
                                ref::layernorm(x.host, gamma.host, beta.host, rows, cols, 1e-5)),
            kTolerance);
}

// ---- Backward kernels and Adam (backward_kernels.cu) -------------------------------------------
// Tolerances, set from the arithmetic before any run: 16-bit outputs carry a rounding of 2^-9
// (bf16) per element, so 1e-2 as above; results built from several stored 16-bit intermediates
// with a cancelling difference (attention's dS = P (dP - rowsum(dP P)), layernorm's
// n dy - sum - xhat sum) get 3e-2; fp32-only paths (router, d_prob, Adam's master) 1e-4.
constexpr double kChainTolerance = 3e-2;
constexpr double kFloatTolerance = 1e-4;

std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

template <typename T>
void upload_to(DeviceBuffer& d, const std::vector<T>& host) {
  cudaMemcpy(d.get(), host.data(), sizeof(T) * host.size(), cudaMemcpyHostToDevice);
}

std::vector<double> as_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

TEST_P(MoeKernelsGpu, GemmWeightGradientTransposesA) {
  const int m = 48, n = 80, k = 96;  // dW[m x n] = X^T dY with X stored k x m
  Tensor a(type(), k * m, rng_), b(type(), k * n, rng_);
  DeviceBuffer c(m * n * 2);
  gemm(*blas_, type(), m, n, k, a.ptr(), b.ptr(), c.get(), nullptr, false, /*a_transposed=*/true);
  check(cudaDeviceSynchronize());
  EXPECT_LE(
      ref::relative_error(download(type(), c.get(), m * n), ref::gemm_at(m, n, k, a.host, b.host)),
      kTolerance);
  // Batched, both operands transposed: C = A^T B^T per batch.
  const int batch = 3;
  Tensor ab(type(), batch * k * m, rng_), bb(type(), batch * n * k, rng_);
  DeviceBuffer cb(batch * m * n * 2);
  gemm_strided_batched(*blas_, type(), m, n, k, batch, ab.ptr(), k * m, bb.ptr(), n * k, cb.get(),
                       m * n, nullptr, true, true);
  check(cudaDeviceSynchronize());
  const std::vector<double> got = download(type(), cb.get(), batch * m * n);
  for (int i = 0; i < batch; ++i) {
    // A^T B^T = (B A)^T: reference via transposing B into k x n first.
    std::vector<float> bt(static_cast<std::size_t>(k * n));
    for (int r = 0; r < n; ++r)
      for (int c2 = 0; c2 < k; ++c2)
        bt[static_cast<std::size_t>(c2 * n + r)] =
            bb.host[static_cast<std::size_t>(i * n * k + r * k + c2)];
    const std::vector<float> ai(ab.host.begin() + i * k * m, ab.host.begin() + (i + 1) * k * m);
    const std::vector<double> expect = ref::gemm_at(m, n, k, ai, bt);
    const std::vector<double> part(got.begin() + i * m * n, got.begin() + (i + 1) * m * n);
    EXPECT_LE(ref::relative_error(part, expect), kTolerance) << "batch " << i;
  }
}

TEST_P(MoeKernelsGpu, AttentionBackward) {
  const int batch = 3, seq = 64, dim = 32;
  const float scale = 1.0F / std::sqrt(static_cast<float>(dim));
  const std::size_t n = static_cast<std::size_t>(batch) * seq * dim;
  Tensor q(type(), n, rng_), k(type(), n, rng_), v(type(), n, rng_), d_o(type(), n, rng_);
  const std::size_t scores = static_cast<std::size_t>(batch) * seq * seq * 2;
  DeviceBuffer p(scores), dp(scores);
  DeviceBuffer dq(n * 2), dk(n * 2), dv(n * 2);
  for (const bool causal : {true, false}) {
    attention_backward(*blas_, type(), batch, seq, dim, q.ptr(), k.ptr(), v.ptr(), d_o.ptr(),
                       p.get(), dp.get(), dq.get(), dk.get(), dv.get(), scale, causal, nullptr);
    check(cudaDeviceSynchronize());
    const ref::AttentionGrad g =
        ref::attention_backward(q.host, k.host, v.host, d_o.host, batch, seq, dim, scale, causal);
    EXPECT_LE(ref::relative_error(download(type(), dq.get(), n), g.dq), kChainTolerance) << causal;
    EXPECT_LE(ref::relative_error(download(type(), dk.get(), n), g.dk), kChainTolerance) << causal;
    EXPECT_LE(ref::relative_error(download(type(), dv.get(), n), g.dv), kTolerance) << causal;
  }
}

TEST_P(MoeKernelsGpu, ActivationBackward) {
  const int rows = 77, ffn = 200;
  for (const Activation act : {Activation::gelu, Activation::swiglu}) {
    const int width = ffn_first_width(act, ffn);
    Tensor h1(type(), static_cast<std::size_t>(rows) * width, rng_, 2.0F);
    Tensor d_act(type(), static_cast<std::size_t>(rows) * ffn, rng_);
    DeviceBuffer d_h1(static_cast<std::size_t>(rows) * width * 2);
    activation_backward(type(), act, h1.ptr(), d_act.ptr(), rows, ffn, d_h1.get(), nullptr);
    check(cudaDeviceSynchronize());
    const auto ref_act = act == Activation::gelu ? ref::Activation::gelu : ref::Activation::swiglu;
    EXPECT_LE(
        ref::relative_error(download(type(), d_h1.get(), static_cast<std::size_t>(rows) * width),
                            ref::activation_backward(h1.host, d_act.host, rows, ffn, ref_act)),
        kTolerance);
  }
}

TEST_P(MoeKernelsGpu, LayernormBackward) {
  const int rows = 300, cols = 384;  // 3 chunks of 128 rows for the column sums
  Tensor x(type(), static_cast<std::size_t>(rows) * cols, rng_), gamma(type(), cols, rng_),
      dy(type(), static_cast<std::size_t>(rows) * cols, rng_);
  DeviceBuffer dx(static_cast<std::size_t>(rows) * cols * 2), dgamma(sizeof(float) * cols),
      dbeta(sizeof(float) * cols);
  const std::size_t ws = layernorm_backward_workspace_bytes(rows, cols);
  DeviceBuffer workspace(ws);
  layernorm_backward(type(), x.ptr(), gamma.ptr(), dy.ptr(), dx.get(), dgamma.get<float>(),
                     dbeta.get<float>(), rows, cols, 1e-5F, workspace.get(), ws, nullptr);
  check(cudaDeviceSynchronize());
  const ref::LayernormGrad g =
      ref::layernorm_backward(x.host, gamma.host, dy.host, rows, cols, 1e-5);
  EXPECT_LE(
      ref::relative_error(download(type(), dx.get(), static_cast<std::size_t>(rows) * cols), g.dx),
      kChainTolerance);
  EXPECT_LE(ref::relative_error(as_doubles(download_raw(dgamma.get<float>(), cols)), g.dgamma),
            kFloatTolerance * 10);  // fp32 sums of 300 products
  EXPECT_LE(ref::relative_error(as_doubles(download_raw(dbeta.get<float>(), cols)), g.dbeta),
            kFloatTolerance);
}

TEST(BackwardKernelsGpu, SoftmaxTopKBackward) {
  MOESIM_SKIP_WITHOUT_GPU();
  std::mt19937 rng(7);
  const int tokens = 130, experts = 64, top_k = 4;
  const std::vector<float> logits =
      random_floats(rng, static_cast<std::size_t>(tokens) * experts, -3, 3);
  const std::vector<float> d_prob =
      random_floats(rng, static_cast<std::size_t>(tokens) * top_k, -1, 1);
  DeviceBuffer d_logits_in(sizeof(float) * logits.size()), d_prob_in(sizeof(float) * d_prob.size()),
      out(sizeof(float) * logits.size());
  upload_to(d_logits_in, logits);
  upload_to(d_prob_in, d_prob);
  softmax_topk_backward(d_logits_in.get<float>(), d_prob_in.get<float>(), tokens, experts, top_k,
                        out.get<float>(), nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_LE(ref::relative_error(as_doubles(download_raw(out.get<float>(), logits.size())),
                                ref::softmax_topk_backward(as_doubles(logits), as_doubles(d_prob),
                                                           tokens, experts, top_k)),
            kFloatTolerance);
}

TEST_P(MoeKernelsGpu, RouteFromCountsThenUnpermuteBackward) {
  // The executor's routing for a task's per-expert counts: choices (with drops marked -1), the
  // GPU route against the reference, then the combine's backward over those rows.
  const int tokens = 300, top_k = 2, experts = 6, hidden = 72, capacity = 96;
  const std::vector<std::int64_t> counts{96, 90, 0, 96, 80, 96};  // 458 of 600 kept
  const std::vector<int> choices = ref::choices_from_counts(counts, tokens, top_k);
  const ref::Routing expect = ref::route(choices, tokens, top_k, experts, capacity);
  const int out_rows = experts * capacity;
  DeviceBuffer d_choices(sizeof(int) * choices.size()), dest(sizeof(int) * choices.size()),
      count(sizeof(int) * experts), offset(sizeof(int) * (experts + 1));
  upload_to(d_choices, choices);
  const std::size_t ws_bytes = route_workspace_bytes(tokens * top_k, experts);
  DeviceBuffer ws(ws_bytes);
  route(d_choices.get<int>(), tokens, top_k, experts, capacity, dest.get<int>(), count.get<int>(),
        offset.get<int>(), ws.get(), ws_bytes, nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_EQ(download_raw(dest.get<int>(), choices.size()), expect.dest_row);
  EXPECT_EQ(download_raw(count.get<int>(), experts), (std::vector<int>{96, 90, 0, 96, 80, 96}));

  Tensor dy(type(), static_cast<std::size_t>(tokens) * hidden, rng_);
  Tensor expert_out(type(), static_cast<std::size_t>(out_rows) * hidden, rng_);
  const std::vector<float> prob = random_floats(rng_, choices.size(), 0.05F, 1.0F);
  DeviceBuffer d_p(sizeof(float) * prob.size()),
      d_eo(static_cast<std::size_t>(out_rows) * hidden * 2), d_prob(sizeof(float) * prob.size());
  upload_to(d_p, prob);
  unpermute_backward(type(), dy.ptr(), expert_out.ptr(), dest.get<int>(), d_p.get<float>(), tokens,
                     top_k, hidden, d_eo.get(), out_rows, d_prob.get<float>(), nullptr);
  check(cudaDeviceSynchronize());
  const ref::UnpermuteGrad g = ref::unpermute_backward(dy.host, expert_out.host, expect.dest_row,
                                                       prob, tokens, top_k, hidden, out_rows);
  EXPECT_LE(
      ref::relative_error(download(type(), d_eo.get(), static_cast<std::size_t>(out_rows) * hidden),
                          g.d_expert_out),
      kTolerance);
  EXPECT_LE(
      ref::relative_error(as_doubles(download_raw(d_prob.get<float>(), prob.size())), g.d_prob),
      kFloatTolerance * 10);  // fp32 dot products of 72 terms
  // The permute's backward is the combine with unit weights.
  const std::vector<float> ones(prob.size(), 1.0F);
  upload_to(d_p, ones);
  DeviceBuffer dx(static_cast<std::size_t>(tokens) * hidden * 2);
  unpermute_combine(type(), expert_out.ptr(), dest.get<int>(), d_p.get<float>(), tokens, top_k,
                    hidden, dx.get(), nullptr);
  check(cudaDeviceSynchronize());
  EXPECT_LE(ref::relative_error(
                download(type(), dx.get(), static_cast<std::size_t>(tokens) * hidden),
                ref::permute_backward(expert_out.host, expect.dest_row, tokens, top_k, hidden)),
            kTolerance);
}

TEST_P(MoeKernelsGpu, AdamStep) {
  const std::size_t n = 10000;
  Tensor grad(type(), n, rng_, 0.01F);
  const std::vector<float> master = random_floats(rng_, n, -1, 1);
  const std::vector<float> m = random_floats(rng_, n, -1e-3F, 1e-3F);
  const std::vector<float> v = random_floats(rng_, n, 0, 1e-5F);
  DeviceBuffer d_master(sizeof(float) * n), d_m(sizeof(float) * n), d_v(sizeof(float) * n),
      weights(n * 2);
  upload_to(d_master, master);
  upload_to(d_m, m);
  upload_to(d_v, v);
  AdamConfig config;
  config.lr = 1e-3F;
  config.step = 3;
  adam_step(type(), grad.ptr(), d_master.get<float>(), d_m.get<float>(), d_v.get<float>(),
            weights.get(), static_cast<std::int64_t>(n), config, nullptr);
  check(cudaDeviceSynchronize());
  ref::AdamParams p;
  p.lr = 1e-3;
  p.step = 3;
  p.beta1 = config.beta1;
  p.beta2 = config.beta2;
  p.eps = config.eps;
  const ref::AdamState s = ref::adam_step(grad.host, master, m, v, p);
  EXPECT_LE(ref::relative_error(as_doubles(download_raw(d_master.get<float>(), n)), s.master),
            kFloatTolerance);
  EXPECT_LE(ref::relative_error(as_doubles(download_raw(d_m.get<float>(), n)), s.m),
            kFloatTolerance);
  EXPECT_LE(ref::relative_error(as_doubles(download_raw(d_v.get<float>(), n)), s.v),
            kFloatTolerance);
  EXPECT_LE(ref::relative_error(download(type(), weights.get(), n), s.master), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MoeKernelsGpu,
                         ::testing::Values(ElementType::bf16, ElementType::fp16),
                         [](const ::testing::TestParamInfo<ElementType>& p) {
                           return std::string(p.param == ElementType::bf16 ? "bf16" : "fp16");
                         });

TEST(CudaDevice, AvailabilityNeverThrows) {
  // On a machine without a driver cudaGetDeviceCount fails; that must read as "no GPU".
  EXPECT_NO_THROW((void)cuda_device_available());
}

}  // namespace
}  // namespace moesim::kernels
