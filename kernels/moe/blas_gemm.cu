// cuBLAS handle, GEMMs (row-major on top of column-major cuBLAS) and device detection.
#include <string>

#include "kernels/moe/blas_handle_impl.hpp"
#include "kernels/moe/device_check.hpp"
#include "kernels/moe/moe_kernels.hpp"

namespace moesim::kernels {
bool cuda_device_available() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error so later calls are not confused
    return false;
  }
  return count > 0;
}

BlasHandle::BlasHandle() : impl_(std::make_unique<Impl>()) {
  MOESIM_DEVICE_CHECK(cublasCreate(&impl_->handle));
  // Tensor cores with fp32 accumulation; results are deterministic for a given shape.
  MOESIM_DEVICE_CHECK(cublasSetMathMode(impl_->handle, CUBLAS_DEFAULT_MATH));
}

BlasHandle::~BlasHandle() {
  if (impl_->pointers != nullptr) (void)cudaFree(impl_->pointers);
  if (impl_->handle != nullptr) (void)cublasDestroy(impl_->handle);
}

void* BlasHandle::Impl::pointer_scratch(std::size_t bytes) {
  if (bytes > pointer_bytes) {
    if (pointers != nullptr) MOESIM_DEVICE_CHECK(cudaFree(pointers));
    pointers = nullptr;
    MOESIM_DEVICE_CHECK(cudaMalloc(&pointers, bytes));
    pointer_bytes = bytes;
  }
  return pointers;
}

// Row-major C[m x n] = A[m x k] B[k x n] is column-major C^T = B^T A^T: cuBLAS sees the row-major
// buffers as their transposes, so the operands swap and m/n swap.
// A stored k x m (a_transposed) is, read column-major, op(A) itself (m x k, ld m); the swapped
// product needs op(A)^T, hence OP_T. Likewise B stored n x k (b_transposed): OP_T, ld k.
void gemm(BlasHandle& blas, ElementType type, int m, int n, int k, const void* a, const void* b,
          void* c, cudaStream_t stream, bool b_transposed, bool a_transposed) {
  MOESIM_KERNEL_REQUIRE(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension");
  if (m == 0 || n == 0) return;
  cublasHandle_t h = blas.impl().handle;
  MOESIM_DEVICE_CHECK(cublasSetStream(h, stream));
  const float alpha = 1.0F;
  const float beta = 0.0F;
  const cudaDataType_t t = detail::cuda_data_type(type);
  MOESIM_DEVICE_CHECK(cublasGemmEx(h, b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   a_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, t,
                                   b_transposed ? k : n, a, t, a_transposed ? m : k, &beta, c, t, n,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void gemm_strided_batched(BlasHandle& blas, ElementType type, int m, int n, int k, int batch,
                          const void* a, std::int64_t stride_a, const void* b,
                          std::int64_t stride_b, void* c, std::int64_t stride_c,
                          cudaStream_t stream, bool b_transposed, bool a_transposed) {
  MOESIM_KERNEL_REQUIRE(m >= 0 && n >= 0 && k >= 0 && batch >= 0, "gemm: negative dimension");
  if (m == 0 || n == 0 || batch == 0) return;
  cublasHandle_t h = blas.impl().handle;
  MOESIM_DEVICE_CHECK(cublasSetStream(h, stream));
  const float alpha = 1.0F;
  const float beta = 0.0F;
  const cudaDataType_t t = detail::cuda_data_type(type);
  MOESIM_DEVICE_CHECK(cublasGemmStridedBatchedEx(
      h, b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, a_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, n, m,
      k, &alpha, b, t, b_transposed ? k : n, stride_b, a, t, a_transposed ? m : k, stride_a, &beta,
      c, t, n, stride_c, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace moesim::kernels
