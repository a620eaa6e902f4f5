// ExecutionPlan: a TaskGraph lowered to what the hardware executor enqueues on CUDA streams.
// Pure C++ (no CUDA header), so the lowering is built and tested on machines without a GPU.
//
// Invariants (established by lower_graph(), tested in tests/kernels/runtime):
//  - RankPlan::launches is the rank's projection of ONE global topological order of the graph
//    (stream order + explicit edges + communication rendezvous). Every communication op
//    therefore appears in the same relative order on every rank of its group, which NCCL
//    requires of operations sharing a communicator.
//  - A launch's `waits` are the producer tasks whose end event its stream must wait on: only
//    cross-stream or cross-rank edges, and only those not implied by stream order or by an
//    earlier wait of the same stream on a later task of the same producer stream.
//  - groups[] holds each distinct rank set (sorted ascending) once; one NCCL communicator per
//    group, shared by every op over that set. A rank's NCCL rank in a group is its index there.
//  - Sizes are bytes; counts are elements of the call's wire type.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::runtime {

/// The real kernel (or copy / delay) a compute task becomes. Activations run in 16-bit
/// (kernels/moe supports bf16 and fp16); fp32 and fp8 tasks run as bf16.
enum class DeviceOp : std::uint8_t {
  gemm,                 ///< kernels::gemm / gemm_strided_batched: m, n, k, batch, transposes
  attention_forward,    ///< batch = heads x sequences of n x k
  attention_backward,   ///< dQ, dK, dV from Q, K, V, dO (softmax recomputed)
  softmax_rows,         ///< m rows of n
  layernorm_forward,    ///< m rows of n
  layernorm_backward,   ///< dx, dgamma, dbeta of m rows of n
  activation_forward,   ///< m rows, n = ffn; `activation` gelu or swiglu (input m x 2n)
  activation_backward,  ///< d_h1 from h1 and d_act
  gate_forward,         ///< softmax + top-k on fp32 logits: tokens x experts, top_k
  gate_backward,        ///< d_logits from logits and the kept probabilities' gradient
  permute_forward,      ///< kernels::route + permute with the task's per-expert counts
  permute_backward,     ///< gather-sum of each token's rows (unpermute_combine, unit weights)
  unpermute_forward,    ///< kernels::unpermute_combine
  unpermute_backward,   ///< d_expert_out and d_prob of the combine
  adam,                 ///< one Adam step over `parameters` fp32 master weights
  copy,                 ///< cudaMemcpyAsync device-to-device of copy_bytes
  delay,                ///< a spin kernel lasting `delay`
};

std::string_view to_string(DeviceOp op);

/// Activation of activation_forward / activation_backward (kernels::Activation).
enum class DeviceActivation : std::uint8_t { gelu, swiglu };

/// One compute launch with its resolved shape and the device memory it touches.
struct DeviceCall {
  DeviceOp op = DeviceOp::copy;
  bool fp16 = false;  ///< element type: fp16 when the task's dtype is fp16, else bf16
  std::int64_t m = 0;
  std::int64_t n = 0;
  std::int64_t k = 0;
  std::int64_t batch = 1;
  bool transpose_a = false;  ///< gemm: A stored k x m (weight gradient X^T dY)
  bool transpose_b = false;  ///< gemm: B stored n x k (input gradient dY W^T)
  /// attention: the causal mask applies (ComputeOp::causal). The kernels are the unfused cuBLAS
  /// ones (scores GEMM, softmax, PV GEMM) whatever ComputeOp::fused says: a fused task's
  /// measured time is an unfused kernel's (device_kernel_work, what validate predicts).
  bool causal = false;
  DeviceActivation activation = DeviceActivation::gelu;
  std::int32_t tokens = 0;  ///< routing ops
  std::int32_t top_k = 0;
  std::int32_t experts = 0;
  std::int32_t hidden = 0;
  std::int32_t out_rows = 0;                    ///< permute: rows of the expert-ordered buffer
  std::int32_t capacity = 0;                    ///< permute: slots per expert, 0 = dropless
  std::vector<std::int64_t> tokens_per_expert;  ///< permute / unpermute routing
  std::int64_t parameters = 0;                  ///< adam
  std::int64_t copy_bytes = 0;
  SimTime delay;
  std::int64_t input_bytes = 0;   ///< read-only random inputs (operands, weights, logits)
  std::int64_t output_bytes = 0;  ///< outputs and scratch written by the call
  /// No real kernel runs what the task describes (its ComputeOp is unset or inconsistent with
  /// its shape): `op` is a stand-in with the task's size, and `substitution` says why. Plans,
  /// measured records and validate's table list such tasks apart.
  bool substituted = false;
  std::string substitution;
};

/// Element type on the wire. Reductions use the task's dtype; data movement is counted in
/// bytes (uint8) so that every byte count of the graph is sent exactly.
enum class WireType : std::uint8_t { u8, bf16, fp16, fp32 };
std::int64_t wire_bytes(WireType t);

enum class NcclCallKind : std::uint8_t {
  all_reduce,
  all_gather,
  reduce_scatter,
  broadcast,
  reduce,
  send,
  recv
};
std::string_view to_string(NcclCallKind kind);

/// One NCCL call. For all_gather `count` is the per-rank send count; for reduce_scatter the
/// per-rank receive count (NCCL's own conventions).
struct NcclCall {
  NcclCallKind kind = NcclCallKind::all_reduce;
  WireType type = WireType::u8;
  std::int64_t count = 0;
  std::uint32_t peer = 0;  ///< NCCL rank of the peer (send/recv) or the root (broadcast/reduce)
  std::int64_t send_offset_bytes = 0;
  std::int64_t recv_offset_bytes = 0;
  auto operator<=>(const NcclCall&) const = default;
};

/// A rank's part of one communication op.
struct CommCall {
  CommId comm;
  std::uint32_t group = 0;      ///< index into ExecutionPlan::groups
  std::uint32_t nccl_rank = 0;  ///< this rank's index in the group's sorted rank set
  /// Wrapped in ncclGroupStart/End (all_to_all, all_to_all_v, send_recv).
  bool grouped = false;
  std::vector<NcclCall> calls;  ///< empty for a zero-byte op (it then records an empty span)
  std::int64_t send_bytes = 0;  ///< send buffer this rank needs
  std::int64_t recv_bytes = 0;  ///< receive buffer this rank needs
};

struct Launch {
  TaskId task;
  StreamId stream;
  std::vector<TaskId> waits;          ///< producers whose end event this launch waits on
  std::optional<DeviceCall> compute;  ///< kernels and delays
  std::optional<CommCall> comm;       ///< communication members
};

/// Per stream of a rank: the buffers its tasks need (bytes).
struct StreamBuffers {
  StreamId stream;
  std::int64_t output_bytes = 0;  ///< max over its compute tasks
  std::int64_t send_bytes = 0;    ///< max over its communication tasks
  std::int64_t recv_bytes = 0;
};

struct RankPlan {
  RankId rank;
  std::vector<Launch> launches;
  std::vector<StreamBuffers> streams;  ///< streams this rank uses, by StreamId
  std::int64_t input_bytes = 0;        ///< max over compute tasks: shared read-only inputs
  /// Max bytes (inputs + outputs) per kernel kind ("gemm", "attention", ..., "delay").
  std::map<std::string, std::int64_t> max_bytes_by_kind;
};

struct CommGroupPlan {
  std::vector<RankId> ranks;  ///< sorted ascending; NCCL rank = index
};

struct ExecutionPlan {
  std::vector<RankPlan> ranks;  ///< indexed by rank
  std::vector<CommGroupPlan> groups;
  std::vector<TaskId> global_order;   ///< the topological order the launch lists project
  std::size_t event_waits = 0;        ///< sum of Launch::waits sizes
  std::size_t cross_rank_waits = 0;   ///< of which the producer is on another rank
  std::size_t implied_edges = 0;      ///< explicit edges dropped as implied by stream order
  std::size_t substituted_tasks = 0;  ///< compute tasks run by a stand-in (DeviceCall::substituted)
};

}  // namespace moesim::runtime
