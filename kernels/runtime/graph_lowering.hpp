// Lowering of a TaskGraph into an ExecutionPlan (execution_plan.hpp): the launch order of every
// rank, the CUDA events cross-stream and cross-rank edges need, the NCCL communicators and call
// sequences, the real kernel each compute task becomes and the buffers they need.
//
// How task shapes map to kernels (task.hpp documents the shapes):
//   gemm        m, n, k, batch                  -> gemm / gemm_strided_batched
//   attention   m tokens, n seq, k head dim, batch heads -> attention_forward over
//               batch * max(1, m / n) heads of n x k
//   softmax, layernorm   m rows of n
//   elementwise m x n: swiglu when bytes >= 3 m n (2-byte elements; input m x 2n), else gelu;
//               a task without a shape copies bytes / 2
//   gate        softmax + top-k over m tokens x n experts (fp32 logits). top_k = k when in
//               [1, min(32, n)], else the ratio m_permute / m of the next permute task on the
//               rank, else 1. (The router GEMM is its own gemm task, so it is not run again.)
//   permute     m = tokens x top_k assignments, n = hidden: route + permute, dropless, experts
//               and top_k from the nearest earlier gate task on the rank (else 8 experts,
//               top_k 1); assignments are spread evenly over experts
//   unpermute   same shape: unpermute_combine
//   optimizer, memcpy, other   cudaMemcpyAsync of bytes / 2 (reads + writes = bytes)
//   delay       a spin kernel of the delay's duration
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
/// Experts assumed by a permute task with no gate task before it on its rank.
inline constexpr std::int32_t kDefaultExperts = 8;

/// Lowers `graph` (which must pass TaskGraph::validate()). Throws SimulationError naming the
/// tasks on a dependency cycle, InputError for a task no kernel can run (naming it and the
/// limit).
ExecutionPlan lower_graph(const TaskGraph& graph);

}  // namespace moesim::runtime

namespace moesim::runtime {

/// A readable listing of `plan` (what `moesim execute --plan` prints): communicators, then per
/// rank its buffers and every launch with its waits, kernel shape or NCCL calls.
std::string plan_to_text(const TaskGraph& graph, const ExecutionPlan& plan);

}  // namespace moesim::runtime
