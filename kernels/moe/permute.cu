// Routing positions (deterministic: per-chunk counts, a scan over chunks, ranks inside a chunk),
// permute into expert order (capacity-aware or dropless) and the weighted un-permute/combine.
#include "kernels/moe/device_check.hpp"

namespace moesim::kernels {
namespace {

constexpr int kChunk = 256;  // assignments per block in the routing kernels

__global__ void chunk_counts_kernel(const int* __restrict__ expert, int assignments, int experts,
                                    int* __restrict__ counts) {
  extern __shared__ int local[];
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kChunk) local[e] = 0;
  __syncthreads();
  const int a = static_cast<int>(blockIdx.x) * kChunk + static_cast<int>(threadIdx.x);
  // Counts only, so the order of the atomics does not matter; -1 marks a dropped assignment.
  if (a < assignments && expert[a] >= 0) atomicAdd(&local[expert[a]], 1);
  __syncthreads();
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kChunk) {
    counts[static_cast<std::int64_t>(blockIdx.x) * experts + e] = local[e];
  }
}

// One block; thread e scans expert e's counts over chunks in place (count -> chunk base), then
// thread 0 writes the per-expert offsets.
__global__ void scan_chunks_kernel(int* __restrict__ counts, int chunks, int experts, int capacity,
                                   int* __restrict__ expert_count,
                                   int* __restrict__ expert_offset) {
  extern __shared__ int totals[];
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += static_cast<int>(blockDim.x)) {
    int running = 0;
    for (int c = 0; c < chunks; ++c) {
      int* slot = counts + static_cast<std::int64_t>(c) * experts + e;
      const int n = *slot;
      *slot = running;
      running += n;
    }
    totals[e] = running;
    expert_count[e] = capacity > 0 ? min(running, capacity) : running;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int offset = 0;
    for (int e = 0; e < experts; ++e) {
      expert_offset[e] = capacity > 0 ? e * capacity : offset;
      offset += totals[e];
    }
    expert_offset[experts] = capacity > 0 ? experts * capacity : offset;
  }
}

__global__ void assign_rows_kernel(const int* __restrict__ expert, int assignments, int experts,
                                   int capacity, const int* __restrict__ chunk_base,
                                   const int* __restrict__ expert_offset,
                                   int* __restrict__ dest_row) {
  __shared__ int chunk_expert[kChunk];
  const int i = static_cast<int>(threadIdx.x);
  const int a = static_cast<int>(blockIdx.x) * kChunk + i;
  chunk_expert[i] = a < assignments ? expert[a] : -1;
  __syncthreads();
  if (a >= assignments) return;
  const int e = chunk_expert[i];
  if (e < 0) {
    dest_row[a] = -1;  // dropped before routing
    return;
  }
  int rank = chunk_base[static_cast<std::int64_t>(blockIdx.x) * experts + e];
  for (int j = 0; j < i; ++j) rank += chunk_expert[j] == e ? 1 : 0;
  if (capacity > 0) {
    dest_row[a] = rank < capacity ? e * capacity + rank : -1;
  } else {
    dest_row[a] = expert_offset[e] + rank;
  }
}

template <bool kVector>
__global__ void permute_kernel(const unsigned short* __restrict__ x, int top_k, int hidden,
                               const int* __restrict__ dest_row, unsigned short* __restrict__ out,
                               int assignments) {
  for (int a = static_cast<int>(blockIdx.x); a < assignments; a += static_cast<int>(gridDim.x)) {
    const int row = dest_row[a];
    if (row < 0) continue;
    const std::int64_t src = static_cast<std::int64_t>(a / top_k) * hidden;
    const std::int64_t dst = static_cast<std::int64_t>(row) * hidden;
    if constexpr (kVector) {  // 8 elements (16 bytes) per thread and step
      const uint4* s = reinterpret_cast<const uint4*>(x + src);
      uint4* d = reinterpret_cast<uint4*>(out + dst);
      for (int c = static_cast<int>(threadIdx.x); c < hidden / 8; c += static_cast<int>(blockDim.x))
        d[c] = s[c];
    } else {
      for (int c = static_cast<int>(threadIdx.x); c < hidden; c += static_cast<int>(blockDim.x))
        out[dst + c] = x[src + c];
    }
  }
}

template <typename T>
__global__ void unpermute_combine_kernel(const T* __restrict__ expert_out,
                                         const int* __restrict__ dest_row,
                                         const float* __restrict__ prob, int tokens, int top_k,
                                         int hidden, T* __restrict__ y) {
  using E = detail::Element<T>;
  for (int t = static_cast<int>(blockIdx.x); t < tokens; t += static_cast<int>(gridDim.x)) {
    for (int c = static_cast<int>(threadIdx.x); c < hidden; c += static_cast<int>(blockDim.x)) {
      float acc = 0.0F;
      for (int j = 0; j < top_k; ++j) {
        const int a = t * top_k + j;
        const int row = dest_row[a];
        if (row >= 0)
          acc += prob[a] * E::to_float(expert_out[static_cast<std::int64_t>(row) * hidden + c]);
      }
      y[static_cast<std::int64_t>(t) * hidden + c] = E::from_float(acc);
    }
  }
}

int chunks_for(int assignments) { return (assignments + kChunk - 1) / kChunk; }

}  // namespace

std::size_t route_workspace_bytes(int assignments, int experts) {
  return sizeof(int) * static_cast<std::size_t>(chunks_for(assignments)) *
         static_cast<std::size_t>(experts);
}

void route(const int* topk_expert, int tokens, int top_k, int experts, int capacity, int* dest_row,
           int* expert_count, int* expert_offset, void* workspace, std::size_t workspace_bytes,
           cudaStream_t stream) {
  MOESIM_KERNEL_REQUIRE(experts >= 1 && experts <= 1024 * 8, "route: experts in [1, 8192]");
  const int assignments = tokens * top_k;
  MOESIM_KERNEL_REQUIRE(workspace_bytes >= route_workspace_bytes(assignments, experts),
                        "route: workspace smaller than route_workspace_bytes()");
  const int chunks = chunks_for(assignments);
  auto* counts = static_cast<int*>(workspace);
  const std::size_t shared = sizeof(int) * static_cast<std::size_t>(experts);
  if (chunks > 0) {
    chunk_counts_kernel<<<static_cast<unsigned>(chunks), kChunk, shared, stream>>>(
        topk_expert, assignments, experts, counts);
    MOESIM_DEVICE_CHECK(cudaGetLastError());
  }
  scan_chunks_kernel<<<1, 1024, shared, stream>>>(counts, chunks, experts, capacity, expert_count,
                                                  expert_offset);
  MOESIM_DEVICE_CHECK(cudaGetLastError());
  if (chunks > 0) {
    assign_rows_kernel<<<static_cast<unsigned>(chunks), kChunk, 0, stream>>>(
        topk_expert, assignments, experts, capacity, counts, expert_offset, dest_row);
    MOESIM_DEVICE_CHECK(cudaGetLastError());
  }
}

void permute(ElementType type, const void* x, int tokens, int top_k, int hidden,
             const int* dest_row, void* out, int out_rows, cudaStream_t stream) {
  (void)type;  // a 16-bit copy: bf16 and fp16 move the same bits
  MOESIM_DEVICE_CHECK(cudaMemsetAsync(
      out, 0,
      static_cast<std::size_t>(out_rows) * static_cast<std::size_t>(hidden) * element_bytes(type),
      stream));
  const int assignments = tokens * top_k;
  if (assignments <= 0) return;
  const unsigned blocks = detail::grid_for(assignments, 1);
  const auto* src = static_cast<const unsigned short*>(x);
  auto* dst = static_cast<unsigned short*>(out);
  const bool aligned = hidden % 8 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
                       reinterpret_cast<std::uintptr_t>(out) % 16 == 0;
  if (aligned) {
    permute_kernel<true>
        <<<blocks, 128, 0, stream>>>(src, top_k, hidden, dest_row, dst, assignments);
  } else {
    permute_kernel<false>
        <<<blocks, 256, 0, stream>>>(src, top_k, hidden, dest_row, dst, assignments);
  }
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

void unpermute_combine(ElementType type, const void* expert_out, const int* dest_row,
                       const float* topk_prob, int tokens, int top_k, int hidden, void* y,
                       cudaStream_t stream) {
  if (tokens <= 0) return;
  MOESIM_DISPATCH_ELEMENT(type, T, {
    unpermute_combine_kernel<T><<<detail::grid_for(tokens, 1), 256, 0, stream>>>(
        static_cast<const T*>(expert_out), dest_row, topk_prob, tokens, top_k, hidden,
        static_cast<T*>(y));
  });
  MOESIM_DEVICE_CHECK(cudaGetLastError());
}

}  // namespace moesim::kernels
