// Device helpers of the hardware executor that are not MoE kernels: random buffer fill and a
// timed spin (a DelayTask on a stream, and the launch headroom before each iteration).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::runtime {

/// Fills `bytes` (even) at `data` with 16-bit values uniform in +-[0.05, 1] (bf16 bits). Read
/// as fp16 they are finite values in +-[1, 2); pairs read as fp32 are finite too. Never zero:
/// zero operands make tensor cores draw less power and run faster than real data.
void fill_random(void* data, std::int64_t bytes, std::uint64_t seed, cudaStream_t stream);

/// A one-thread kernel that spins for `nanoseconds` of GPU global time.
void spin_delay(std::int64_t nanoseconds, cudaStream_t stream);

}  // namespace moesim::runtime
