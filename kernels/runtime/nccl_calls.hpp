// The one NCCL call sequence of moesim: a rank's part of a communication op, as lower_graph()
// lowered it (CommCall in execution_plan.hpp), issued on a CUDA stream. The hardware executor
// issues every collective through this, and bench/nccl measures through it, so calibration
// measures exactly the calls `moesim execute` makes.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "kernels/runtime/execution_plan.hpp"

namespace moesim::runtime {

ncclDataType_t nccl_type(WireType type);

/// Enqueues `call`'s NCCL calls on `stream` over `comm` (the communicator of call.group, in
/// which this rank is call.nccl_rank): each call reads `send` + its send offset and writes `recv`
/// + its receive offset; grouped calls (all-to-all(-v), send/recv) inside one
/// ncclGroupStart/End. A zero-byte op enqueues nothing. Several ranks driven by one thread wrap
/// their issue_nccl_calls in an outer ncclGroupStart/End (NCCL groups nest). Throws DeviceError.
void issue_nccl_calls(const CommCall& call, ncclComm_t comm, void* send, void* recv,
                      cudaStream_t stream);

}  // namespace moesim::runtime
