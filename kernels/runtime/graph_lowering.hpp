// Lowering of a TaskGraph into an ExecutionPlan (execution_plan.hpp): the launch order of every
// rank, the CUDA events cross-stream and cross-rank edges need, the NCCL communicators and call
// sequences, the real kernel each compute task becomes and the buffers they need.
//
// Each compute task becomes the kernel its ComputeOp names (sim/workload/compute_op.hpp, set by
// the strategy layer); the lowering never infers an operation from byte counts or from other
// tasks. Shapes as task.hpp documents them:
//   gemm        m, n, k, batch; role forward C = A B, input_gradient dX = dY W^T (B stored
//               n x k), weight_gradient dW = X^T dY (A stored k x m); cuBLAS
//   attention   m tokens, n seq, k head dim, batch heads -> batch * max(1, m / n) heads of n x k;
//               forward, or backward (dQ, dK, dV, softmax recomputed)
//   softmax     forward row softmax of m rows of n
//   layernorm   m rows of n, forward or backward (dx, dgamma, dbeta)
//   elementwise m x n activation (gelu, or swiglu over m x 2n), forward or backward
//   gate        softmax + top-k over m tokens x n experts (fp32 logits), op.top_k; backward gives
//               d_logits (the router GEMM is its own gemm task)
//   permute     m = tokens x top_k assignments, n = hidden; the rank's op.tokens_per_expert fix
//               which expert each assignment goes to (dropless, or op.capacity slots per
//               expert): route + permute forward, gather-sum backward
//   unpermute   same routing: weighted combine forward, d_expert_out + d_prob backward
//   optimizer   Adam step over op.parameters fp32 master weights
//   memcpy      cudaMemcpyAsync of bytes / 2 (reads + writes = bytes)
//   delay       a spin kernel of the delay's duration
// A task whose ComputeOp is unset (no GEMM role, no direction, no activation kind, no parameter
// count) or contradicts its shape, and kind 'other', is SUBSTITUTED: a stand-in of its size
// runs (GEMM and attention: the forward kernel of the shape; others: a copy of bytes / 2) and
// DeviceCall::substituted says why; it is never silently replaced.
// Communication (nccl-tests sizes, comm_op.hpp):
//   all_reduce, reduce_scatter, reduce   native, in the op's dtype (count = bytes / element)
//   all_gather, broadcast                native, in bytes (uint8)
//   all_to_all   grouped ncclSend/ncclRecv of bytes / n to and from every member (self included)
//   all_to_all_v grouped ncclSend/ncclRecv of the matrix's non-zero entries
//   send_recv    ncclSend on ranks[0], ncclRecv on ranks[1]
#pragma once

#include <cstdint>
#include <string>

#include "kernels/runtime/execution_plan.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::runtime {

/// Limits of kernels/moe that the lowering checks up front (moe_kernels.hpp: softmax_topk needs
/// experts <= 1024 and top_k <= 32; route needs experts <= 8192).
inline constexpr std::int64_t kMaxGateExperts = 1024;
inline constexpr std::int64_t kMaxTopK = 32;
inline constexpr std::int64_t kMaxRouteExperts = 8192;
/// Bytes added to a kernel's input and output buffer sizes so that each of its sub-buffers
/// (operands, outputs, scratch) can start 256-byte aligned (at most four per buffer).
inline constexpr std::int64_t kCallAlignmentSlack = 1024;

/// Lowers `graph` (which must pass TaskGraph::validate()). Throws SimulationError naming the
/// tasks on a dependency cycle, InputError for a task no kernel can run (naming it and the
/// limit).
ExecutionPlan lower_graph(const TaskGraph& graph);

/// The work of the kernel this executor launches for `task`, as a ComputeTask a simulated
/// compute model can price: `task` itself, but for attention, which runs unfused (cuBLAS scores
/// GEMM, softmax, PV GEMM; ComputeOp::fused false) over every key of its rows: an unfused causal
/// kernel computes the tiles the mask empties, so a causal task's n grows from the mask's mean
/// keys to its sequence and its FLOPs by the same ratio. `moesim validate` predicts this work, so
/// predicted and measured times are of the same kernels.
ComputeTask device_kernel_work(const ComputeTask& task);

}  // namespace moesim::runtime

namespace moesim::runtime {

/// A readable listing of `plan` (what `moesim execute --plan` prints): communicators, then per
/// rank its buffers and every launch with its waits, kernel shape or NCCL calls; a substituted
/// task's line starts with "SUBSTITUTED (why)".
std::string plan_to_text(const TaskGraph& graph, const ExecutionPlan& plan);

}  // namespace moesim::runtime
