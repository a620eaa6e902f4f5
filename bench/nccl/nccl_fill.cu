// Device helpers of moesim_bench_nccl: fill a float buffer with a constant and count elements
// that differ from an expected value (nccl-tests' #wrong).
#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::bench {
namespace {

__global__ void fill_kernel(float* p, std::int64_t n, float v) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    p[i] = v;
  }
}

__global__ void count_wrong_kernel(const float* p, std::int64_t n, float expect,
                                   unsigned long long* wrong) {
  unsigned long long local = 0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (p[i] != expect) ++local;
  }
  if (local > 0) atomicAdd(wrong, local);
}

unsigned grid(std::int64_t n) {
  const std::int64_t g = (n + 255) / 256;
  return static_cast<unsigned>(g < 1 ? 1 : (g > 4096 ? 4096 : g));
}

}  // namespace

cudaError_t fill_floats(float* p, std::int64_t n, float v, cudaStream_t s) {
  if (n > 0) fill_kernel<<<grid(n), 256, 0, s>>>(p, n, v);
  return cudaGetLastError();
}

cudaError_t count_wrong(const float* p, std::int64_t n, float expect, unsigned long long* wrong,
                        cudaStream_t s) {
  if (n > 0) count_wrong_kernel<<<grid(n), 256, 0, s>>>(p, n, expect, wrong);
  return cudaGetLastError();
}

}  // namespace moesim::bench
