#include <cstdint>

#include "kernels/device_check.hpp"
#include "kernels/runtime/runtime_kernels.hpp"

namespace moesim::runtime {
namespace {

// splitmix64: a stateless hash, so every element is independent of launch geometry.
__device__ __forceinline__ std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

__global__ void fill_kernel(std::uint16_t* out, std::int64_t n, std::uint64_t seed) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += stride) {
    const std::uint64_t h = mix(seed ^ static_cast<std::uint64_t>(i));
    // magnitude in [0.05, 1]: bf16 bits between 0x3D4C (0.0498) and 0x3F80 (1.0)
    const auto mag = static_cast<std::uint16_t>(0x3D4C + (h % (0x3F80 - 0x3D4C + 1)));
    const auto sign = static_cast<std::uint16_t>((h >> 32) & 1U) << 15;
    out[i] = static_cast<std::uint16_t>(mag | sign);
  }
}

__device__ __forceinline__ std::uint64_t global_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void spin_kernel(std::int64_t ns) {
  const std::uint64_t start = global_ns();
  while (global_ns() - start < static_cast<std::uint64_t>(ns)) {
    __nanosleep(100);
  }
}

}  // namespace

void fill_random(void* data, std::int64_t bytes, std::uint64_t seed, cudaStream_t stream) {
  const std::int64_t n = bytes / 2;
  if (n <= 0) return;
  const std::int64_t blocks = (n + 255) / 256;
  fill_kernel<<<static_cast<unsigned>(blocks < 4096 ? blocks : 4096), 256, 0, stream>>>(
      static_cast<std::uint16_t*>(data), n, seed);
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void spin_delay(std::int64_t nanoseconds, cudaStream_t stream) {
  if (nanoseconds <= 0) return;
  spin_kernel<<<1, 1, 0, stream>>>(nanoseconds);
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

}  // namespace moesim::runtime
