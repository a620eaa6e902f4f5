#include "kernels/runtime/nccl_calls.hpp"

#include <cstddef>

#include "kernels/device_check.hpp"

namespace moesim::runtime {

ncclDataType_t nccl_type(WireType t) {
  switch (t) {
    case WireType::u8:
      return ncclUint8;
    case WireType::bf16:
      return ncclBfloat16;
    case WireType::fp16:
      return ncclFloat16;
    case WireType::fp32:
      return ncclFloat32;
  }
  return ncclUint8;
}

void issue_nccl_calls(const CommCall& c, ncclComm_t comm, void* send_buffer, void* recv_buffer,
                      cudaStream_t stream) {
  if (c.calls.empty()) return;
  char* send = static_cast<char*>(send_buffer);
  char* recv = static_cast<char*>(recv_buffer);
  auto count = [](std::int64_t n) { return static_cast<std::size_t>(n); };
  if (c.grouped) MOESIM_DEVICE_CHECK(ncclGroupStart());
  for (const NcclCall& call : c.calls) {
    const ncclDataType_t type = nccl_type(call.type);
    char* sb = send + call.send_offset_bytes;
    char* rb = recv + call.recv_offset_bytes;
    const auto peer = static_cast<int>(call.peer);
    switch (call.kind) {
      case NcclCallKind::all_reduce:
        MOESIM_DEVICE_CHECK(ncclAllReduce(sb, rb, count(call.count), type, ncclSum, comm, stream));
        break;
      case NcclCallKind::all_gather:
        MOESIM_DEVICE_CHECK(ncclAllGather(sb, rb, count(call.count), type, comm, stream));
        break;
      case NcclCallKind::reduce_scatter:
        MOESIM_DEVICE_CHECK(
            ncclReduceScatter(sb, rb, count(call.count), type, ncclSum, comm, stream));
        break;
      case NcclCallKind::broadcast:
        MOESIM_DEVICE_CHECK(ncclBroadcast(sb, rb, count(call.count), type, peer, comm, stream));
        break;
      case NcclCallKind::reduce:
        MOESIM_DEVICE_CHECK(
            ncclReduce(sb, rb, count(call.count), type, ncclSum, peer, comm, stream));
        break;
      case NcclCallKind::send:
        MOESIM_DEVICE_CHECK(ncclSend(sb, count(call.count), type, peer, comm, stream));
        break;
      case NcclCallKind::recv:
        MOESIM_DEVICE_CHECK(ncclRecv(rb, count(call.count), type, peer, comm, stream));
        break;
    }
  }
  if (c.grouped) MOESIM_DEVICE_CHECK(ncclGroupEnd());
}

}  // namespace moesim::runtime
