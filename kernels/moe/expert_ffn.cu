// Expert FFN: two GEMMs per expert with a GeLU or SwiGLU activation between them, either one
// cuBLAS GEMM per expert or one grouped GEMM (cublasGemmGroupedBatchedEx) per layer.
#include <vector>

#include "kernels/moe/blas_handle_impl.hpp"
#include "kernels/moe/device_check.hpp"

namespace moesim::kernels {
namespace {

template <typename T>
__global__ void activation_kernel(const T* __restrict__ h1, std::int64_t rows, int ffn, bool swiglu,
                                  T* __restrict__ act) {
  using E = detail::Element<T>;
  const std::int64_t total = rows * ffn;
  const int width = swiglu ? 2 * ffn : ffn;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / ffn;
    const int c = static_cast<int>(i % ffn);
    const float g = E::to_float(h1[r * width + c]);
    float out = 0.0F;
    if (swiglu) {
      const float up = E::to_float(h1[r * width + ffn + c]);
      out = g / (1.0F + __expf(-g)) * up;
    } else {
      // tanh approximation, as the reference (reference_kernels.cpp gelu()).
      constexpr float kSqrt2OverPi = 0.7978845608028654F;
      out = 0.5F * g * (1.0F + tanhf(kSqrt2OverPi * (g + 0.044715F * g * g * g)));
    }
    act[i] = E::from_float(out);
  }
}

struct Group {
  int rows;
  std::int64_t first_row;
  int expert;
};

std::vector<Group> non_empty_groups(std::span<const std::int64_t> row_offset) {
  std::vector<Group> groups;
  for (std::size_t e = 0; e + 1 < row_offset.size(); ++e) {
    const std::int64_t rows = row_offset[e + 1] - row_offset[e];
    MOESIM_KERNEL_REQUIRE(rows >= 0, "expert_ffn: row_offset must be non-decreasing");
    if (rows > 0) groups.push_back({static_cast<int>(rows), row_offset[e], static_cast<int>(e)});
  }
  return groups;
}

// One grouped GEMM: for each group g, C_g[rows_g x n] = A_g[rows_g x k] * W_g[k x n], row-major
// (column-major C^T = W^T A^T, as in gemm()).
void grouped_layer(BlasHandle& blas, ElementType type, const std::vector<Group>& groups, int n,
                   int k, const void* a, const void* w, void* c, cudaStream_t stream) {
  const int count = static_cast<int>(groups.size());
  if (count == 0) return;
  std::vector<const void*> host_ptrs(static_cast<std::size_t>(3 * count));
  std::vector<int> m_array(static_cast<std::size_t>(count), n);
  std::vector<int> n_array(static_cast<std::size_t>(count));
  std::vector<int> k_array(static_cast<std::size_t>(count), k);
  std::vector<int> ld_w(static_cast<std::size_t>(count), n);
  std::vector<int> ld_a(static_cast<std::size_t>(count), k);
  std::vector<int> ld_c(static_cast<std::size_t>(count), n);
  std::vector<cublasOperation_t> op(static_cast<std::size_t>(count), CUBLAS_OP_N);
  std::vector<float> alpha(static_cast<std::size_t>(count), 1.0F);
  std::vector<float> beta(static_cast<std::size_t>(count), 0.0F);
  std::vector<int> group_size(static_cast<std::size_t>(count), 1);
  for (int g = 0; g < count; ++g) {
    const Group& gr = groups[static_cast<std::size_t>(g)];
    const auto u = static_cast<std::size_t>(g);
    n_array[u] = gr.rows;
    host_ptrs[u] = detail::offset(w, static_cast<std::int64_t>(gr.expert) * k * n);
    host_ptrs[static_cast<std::size_t>(count) + u] = detail::offset(a, gr.first_row * k);
    host_ptrs[2 * static_cast<std::size_t>(count) + u] =
        detail::offset(static_cast<const void*>(c), gr.first_row * n);
  }
  auto** dev =
      static_cast<const void**>(blas.impl().pointer_scratch(sizeof(void*) * host_ptrs.size()));
  // Pageable host -> device: the source is staged before the call returns, so host_ptrs may die.
  MOESIM_DEVICE_CHECK(cudaMemcpyAsync(dev, host_ptrs.data(), sizeof(void*) * host_ptrs.size(),
                                      cudaMemcpyHostToDevice, stream));
  cublasHandle_t h = blas.impl().handle;
  MOESIM_DEVICE_CHECK(cublasSetStream(h, stream));
  const cudaDataType_t t = detail::cuda_data_type(type);
  MOESIM_DEVICE_CHECK(cublasGemmGroupedBatchedEx(
      h, op.data(), op.data(), m_array.data(), n_array.data(), k_array.data(), alpha.data(), dev, t,
      ld_w.data(), dev + count, t, ld_a.data(), beta.data(),
      const_cast<void* const*>(reinterpret_cast<const void* const*>(dev + 2 * count)), t,
      ld_c.data(), count, group_size.data(), CUBLAS_COMPUTE_32F));
}

}  // namespace

void activation_forward(ElementType type, Activation activation, const void* h1, std::int64_t rows,
                        int ffn, void* act, cudaStream_t stream) {
  if (rows <= 0) return;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    activation_kernel<T><<<detail::grid_for(rows * ffn, 256), 256, 0, stream>>>(
        static_cast<const T*>(h1), rows, ffn, activation == Activation::swiglu,
        static_cast<T*>(act));
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void expert_ffn(BlasHandle& blas, ElementType type, Activation activation, GemmForm form,
                const void* x, std::span<const std::int64_t> row_offset, int hidden, int ffn,
                const void* w1, const void* w2, void* h1, void* act, void* out,
                cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(row_offset.size() >= 2 && row_offset.front() == 0,
                        "expert_ffn: row_offset needs experts + 1 entries starting at 0");
  const std::vector<Group> groups = non_empty_groups(row_offset);
  const int f1 = ffn_first_width(activation, ffn);
  const std::int64_t rows = row_offset.back();
  if (form == GemmForm::grouped) {
    grouped_layer(blas, type, groups, f1, hidden, x, w1, h1, stream);
    activation_forward(type, activation, h1, rows, ffn, act, stream);
    grouped_layer(blas, type, groups, hidden, ffn, act, w2, out, stream);
    return;
  }
  for (const Group& g : groups) {
    gemm(blas, type, g.rows, f1, hidden, detail::offset(x, g.first_row * hidden),
         detail::offset(w1, static_cast<std::int64_t>(g.expert) * hidden * f1),
         detail::offset(h1, g.first_row * f1), stream);
  }
  activation_forward(type, activation, h1, rows, ffn, act, stream);
  for (const Group& g : groups) {
    gemm(blas, type, g.rows, hidden, ffn, detail::offset(act, g.first_row * ffn),
         detail::offset(w2, static_cast<std::int64_t>(g.expert) * ffn * hidden),
         detail::offset(out, g.first_row * hidden), stream);
  }
}

}  // namespace moesim::kernels
