#include "kernels/runtime/graph_lowering.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>

#include "sim/core/errors.hpp"
#include "sim/exec/dependency_cycle.hpp"
#include "sim/workload/attention_geometry.hpp"

namespace moesim::runtime {

std::string_view to_string(DeviceOp op) {
  switch (op) {
    case DeviceOp::gemm:
      return "gemm";
    case DeviceOp::attention_forward:
      return "attention_forward";
    case DeviceOp::attention_backward:
      return "attention_backward";
    case DeviceOp::softmax_rows:
      return "softmax_rows";
    case DeviceOp::layernorm_forward:
      return "layernorm_forward";
    case DeviceOp::layernorm_backward:
      return "layernorm_backward";
    case DeviceOp::activation_forward:
      return "activation_forward";
    case DeviceOp::activation_backward:
      return "activation_backward";
    case DeviceOp::gate_forward:
      return "gate_forward";
    case DeviceOp::gate_backward:
      return "gate_backward";
    case DeviceOp::permute_forward:
      return "permute_forward";
    case DeviceOp::permute_backward:
      return "permute_backward";
    case DeviceOp::unpermute_forward:
      return "unpermute_forward";
    case DeviceOp::unpermute_backward:
      return "unpermute_backward";
    case DeviceOp::adam:
      return "adam";
    case DeviceOp::copy:
      return "copy";
    case DeviceOp::delay:
      return "delay";
  }
  return "?";
}

std::string_view to_string(NcclCallKind kind) {
  switch (kind) {
    case NcclCallKind::all_reduce:
      return "all_reduce";
    case NcclCallKind::all_gather:
      return "all_gather";
    case NcclCallKind::reduce_scatter:
      return "reduce_scatter";
    case NcclCallKind::broadcast:
      return "broadcast";
    case NcclCallKind::reduce:
      return "reduce";
    case NcclCallKind::send:
      return "send";
    case NcclCallKind::recv:
      return "recv";
  }
  return "?";
}

std::int64_t wire_bytes(WireType t) {
  switch (t) {
    case WireType::u8:
      return 1;
    case WireType::bf16:
    case WireType::fp16:
      return 2;
    case WireType::fp32:
      return 4;
  }
  return 1;
}

namespace {

constexpr std::int64_t kElem = 2;  // kernels/moe runs 16-bit activations
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

std::string task_where(const TaskGraph& g, TaskId id) {
  const Task& t = g.task(id);
  return fmt::format("task '{}' (rank {}, stream {})", g.name_of(id), t.rank.value,
                     g.stream_name(t.stream));
}

std::int32_t checked_int(const TaskGraph& g, TaskId id, std::string_view what, std::int64_t v,
                         std::int64_t lo, std::int64_t hi) {
  if (v < lo || v > hi) {
    throw input_error("", task_where(g, id), fmt::format("{} out of range for the kernel", what),
                      std::to_string(v), fmt::format("in [{}, {}]", lo, hi));
  }
  return static_cast<std::int32_t>(v);
}

WireType reduce_type(DType t) {
  switch (t) {
    case DType::fp32:
      return WireType::fp32;
    case DType::fp16:
      return WireType::fp16;
    case DType::bf16:
      return WireType::bf16;
    case DType::fp8:
      return WireType::u8;  // NCCL reductions on fp8 are not universal; uint8 keeps the bytes
  }
  return WireType::u8;
}

/// A stand-in of the task's size for a task no real kernel describes: a device copy moving its
/// bytes (read + write), marked substituted with `why`.
DeviceCall substitute(DeviceCall d, std::int64_t bytes, std::string why) {
  d.op = DeviceOp::copy;
  d.copy_bytes = std::max<std::int64_t>(bytes / 2, 0);
  d.input_bytes = d.copy_bytes;
  d.output_bytes = d.copy_bytes;
  d.substituted = true;
  d.substitution = std::move(why);
  return d;
}

DeviceCall copy_call(std::int64_t bytes) {
  DeviceCall d;
  d.op = DeviceOp::copy;
  d.copy_bytes = std::max<std::int64_t>(bytes / 2, 0);
  d.input_bytes = d.copy_bytes;
  d.output_bytes = d.copy_bytes;
  return d;
}

/// Why the routing of a permute / unpermute task cannot drive the kernels, or "" when it can.
/// Fills tokens, top_k, experts, hidden, capacity, out_rows and tokens_per_expert of `d`.
std::string resolve_routing(const ComputeTask& c, DeviceCall& d) {
  const ComputeOp& op = c.op;
  if (op.top_k < 1 || op.top_k > kMaxTopK)
    return fmt::format("top_k {} not in [1, {}]", op.top_k, kMaxTopK);
  if (op.experts < 1 || op.experts > kMaxRouteExperts) {
    return fmt::format("experts {} not in [1, {}]", op.experts, kMaxRouteExperts);
  }
  if (op.tokens_per_expert.size() != static_cast<std::size_t>(op.experts)) {
    return fmt::format("{} per-expert token counts for {} experts", op.tokens_per_expert.size(),
                       op.experts);
  }
  if (c.shape.m % op.top_k != 0) {
    return fmt::format("m = {} assignments is not tokens x top_k (top_k {})", c.shape.m, op.top_k);
  }
  const std::int64_t tokens = c.shape.m / op.top_k;
  std::int64_t total = 0;
  for (std::int64_t n : op.tokens_per_expert) {
    if (n < 0 || n > tokens)
      return fmt::format("a per-expert count {} not in [0, {} tokens]", n, tokens);
    if (op.capacity > 0 && n > op.capacity) {
      return fmt::format("a per-expert count {} above the capacity {}", n, op.capacity);
    }
    total += n;
  }
  if (total > c.shape.m) {
    return fmt::format("per-expert counts sum to {}, above the {} assignments", total, c.shape.m);
  }
  if (op.capacity < 0) return fmt::format("capacity {} is negative", op.capacity);
  const std::int64_t rows = op.capacity > 0 ? op.capacity * op.experts : total;
  const std::int64_t big = std::numeric_limits<std::int32_t>::max();
  if (rows > big || tokens > big) return "more rows than the kernels index (2^31)";
  d.tokens = static_cast<std::int32_t>(tokens);
  d.top_k = op.top_k;
  d.experts = op.experts;
  d.hidden = static_cast<std::int32_t>(c.shape.n);
  d.capacity = static_cast<std::int32_t>(op.capacity);
  d.out_rows = static_cast<std::int32_t>(rows);
  d.tokens_per_expert = op.tokens_per_expert.values();
  return "";
}

DeviceCall lower_compute(const TaskGraph& g, TaskId id, const ComputeTask& c) {
  const KernelShape& s = c.shape;
  const ComputeOp& op = c.op;
  const std::int64_t big = std::numeric_limits<std::int32_t>::max();
  auto dim = [&](std::string_view what, std::int64_t v) {
    return checked_int(g, id, what, v, 1, big);
  };
  const bool backward = op.direction == OpDirection::backward;
  const bool direction_unset = op.direction == OpDirection::none;
  DeviceCall d;
  d.fp16 = c.dtype == DType::fp16;
  switch (c.kind) {
    case KernelKind::gemm: {
      d.op = DeviceOp::gemm;
      d.m = dim("m", s.m);
      d.n = dim("n", s.n);
      d.k = dim("k", s.k);
      d.batch = dim("batch", s.batch);
      d.transpose_a = op.gemm_role == GemmRole::weight_gradient;
      d.transpose_b = op.gemm_role == GemmRole::input_gradient;
      d.input_bytes = (d.m * d.k + d.k * d.n) * d.batch * kElem;
      d.output_bytes = d.m * d.n * d.batch * kElem;
      if (op.gemm_role == GemmRole::none) {
        d.substituted = true;  // the shape still runs, as a forward product
        d.substitution = "no GEMM role (forward, input_gradient or weight_gradient)";
      }
      return d;
    }
    case KernelKind::attention: {
      d.op = backward ? DeviceOp::attention_backward : DeviceOp::attention_forward;
      // Independent sequences per head (sim/workload/attention_geometry.hpp): a causal task
      // masks over its sequence, any other runs blocks of its n keys.
      const AttentionGeometry geo = attention_geometry(s, op);
      d.causal = op.causal;
      d.n = dim("n (sequence length)", geo.sequence);
      d.k = dim("k (head dim)", s.k);
      d.m = geo.sequences * d.n;
      d.batch = dim("batch x sequences", geo.heads * geo.sequences);
      const std::int64_t head = d.batch * d.n * d.k * kElem;
      const std::int64_t scores = d.batch * d.n * d.n * kElem;
      d.input_bytes = (backward ? 4 : 3) * head;                          // Q K V (dO)
      d.output_bytes = backward ? 3 * head + 2 * scores : head + scores;  // outputs + P (dP)
      if (direction_unset) {
        d.substituted = true;  // runs the forward kernel of the shape
        d.substitution = "no direction (forward or backward)";
      }
      return d;
    }
    case KernelKind::softmax: {
      d.op = DeviceOp::softmax_rows;
      d.m = dim("m (rows)", s.m);
      d.n = dim("n (columns)", s.n);
      d.input_bytes = d.m * d.n * kElem;
      d.output_bytes = d.m * d.n * kElem;
      if (op.direction != OpDirection::forward) {
        return substitute(d, c.bytes.count, "only a forward row softmax has a kernel");
      }
      return d;
    }
    case KernelKind::layernorm: {
      d.op = backward ? DeviceOp::layernorm_backward : DeviceOp::layernorm_forward;
      d.m = dim("m (rows)", s.m);
      d.n = dim("n (columns)", s.n);
      if (direction_unset)
        return substitute(d, c.bytes.count, "no direction (forward or backward)");
      d.input_bytes = (backward ? 2 : 1) * d.m * d.n * kElem + 2 * d.n * kElem;
      d.output_bytes = d.m * d.n * kElem + (backward ? 2 * d.n * 4 : 0);  // dx, fp32 dgamma dbeta
      return d;
    }
    case KernelKind::elementwise: {
      if (s.m <= 0 || s.n <= 0) return substitute(d, c.bytes.count, "no shape");
      d.m = dim("m (rows)", s.m);
      d.n = checked_int(g, id, "n (columns)", s.n, 1, big / 2);
      if (direction_unset)
        return substitute(d, c.bytes.count, "no direction (forward or backward)");
      if (op.activation != ActivationKind::gelu && op.activation != ActivationKind::swiglu) {
        return substitute(d, c.bytes.count,
                          fmt::format("no kernel for activation '{}' (gelu and swiglu have one)",
                                      to_string(op.activation)));
      }
      d.op = backward ? DeviceOp::activation_backward : DeviceOp::activation_forward;
      const bool swiglu = op.activation == ActivationKind::swiglu;
      d.activation = swiglu ? DeviceActivation::swiglu : DeviceActivation::gelu;
      const std::int64_t h1 = d.m * d.n * (swiglu ? 2 : 1) * kElem;
      const std::int64_t act = d.m * d.n * kElem;
      d.input_bytes = backward ? h1 + act : h1;
      d.output_bytes = backward ? h1 : act;
      return d;
    }
    case KernelKind::gate: {
      d.op = backward ? DeviceOp::gate_backward : DeviceOp::gate_forward;
      d.tokens = dim("m (tokens)", s.m);
      d.experts = checked_int(g, id, "n (experts)", s.n, 1, kMaxGateExperts);
      d.m = d.tokens;
      d.n = d.experts;
      if (direction_unset)
        return substitute(d, c.bytes.count, "no direction (forward or backward)");
      if (op.experts != d.experts || op.top_k < 1 ||
          op.top_k > std::min<std::int64_t>(kMaxTopK, d.experts)) {
        return substitute(d, c.bytes.count,
                          fmt::format("routing top_k {} of {} experts does not fit the shape's {} "
                                      "experts (top_k in [1, min(32, experts)])",
                                      op.top_k, op.experts, d.experts));
      }
      d.top_k = op.top_k;
      const std::int64_t logits = std::int64_t{d.tokens} * d.experts * 4;
      const std::int64_t kept = std::int64_t{d.tokens} * d.top_k * 4;
      d.input_bytes = backward ? logits + kept : logits;
      d.output_bytes = backward ? logits : 2 * kept;  // d_logits, or indices + probabilities
      return d;
    }
    case KernelKind::permute:
    case KernelKind::unpermute: {
      const bool permute = c.kind == KernelKind::permute;
      d.m = dim("m (assignments)", s.m);
      d.n = dim("n (hidden)", s.n);
      if (direction_unset)
        return substitute(d, c.bytes.count, "no direction (forward or backward)");
      if (std::string why = resolve_routing(c, d); !why.empty()) {
        return substitute(d, c.bytes.count, "routing: " + why);
      }
      const std::int64_t token_rows = std::int64_t{d.tokens} * d.hidden * kElem;
      const std::int64_t expert_rows = std::int64_t{d.out_rows} * d.hidden * kElem;
      if (permute) {
        d.op = backward ? DeviceOp::permute_backward : DeviceOp::permute_forward;
        d.input_bytes = backward ? expert_rows : token_rows;
        d.output_bytes = backward ? token_rows : expert_rows;
      } else {
        d.op = backward ? DeviceOp::unpermute_backward : DeviceOp::unpermute_forward;
        d.input_bytes = backward ? token_rows + expert_rows : expert_rows;
        d.output_bytes = backward ? expert_rows + std::int64_t{d.tokens} * d.top_k * 4 : token_rows;
      }
      // Routing arrays (expert choices, destination rows, probabilities) are per-task constants
      // the executor builds once; the buffers here are the activations.
      return d;
    }
    case KernelKind::optimizer: {
      if (op.parameters <= 0) {
        return substitute(d, c.bytes.count, "no parameter count for the Adam step");
      }
      d.op = DeviceOp::adam;
      d.parameters = op.parameters;
      d.input_bytes = op.parameters * kElem;             // bf16 gradients
      d.output_bytes = op.parameters * (3 * 4 + kElem);  // fp32 master, m, v; bf16 weights
      return d;
    }
    case KernelKind::memcpy:
      return copy_call(c.bytes.count);
    case KernelKind::other:
      return substitute(d, c.bytes.count, "kind 'other' has no kernel");
  }
  return substitute(d, c.bytes.count, "unknown kernel kind");
}

std::uint32_t position_in(const std::vector<RankId>& ranks, RankId r) {
  const auto it = std::find(ranks.begin(), ranks.end(), r);
  MOESIM_CHECK(it != ranks.end(), "rank {} not in group", r.value);
  return static_cast<std::uint32_t>(it - ranks.begin());
}

/// The NCCL calls of `rank`'s member of `op`, with nccl ranks relative to `sorted`.
CommCall lower_comm(const CommOp& op, RankId rank, const std::vector<RankId>& sorted) {
  CommCall call;
  call.nccl_rank = position_in(sorted, rank);
  const auto n = static_cast<std::int64_t>(op.ranks.size());
  const std::int64_t bytes = op.bytes.count;
  const WireType red = reduce_type(op.dtype);
  const std::int64_t red_count = bytes / wire_bytes(red);
  auto add = [&](NcclCallKind kind, WireType type, std::int64_t count, std::uint32_t peer,
                 std::int64_t send_off, std::int64_t recv_off) {
    if (count > 0) call.calls.push_back(NcclCall{kind, type, count, peer, send_off, recv_off});
  };
  switch (op.kind) {
    case CommKind::all_reduce:
      add(NcclCallKind::all_reduce, red, red_count, 0, 0, 0);
      call.send_bytes = call.recv_bytes = red_count * wire_bytes(red);
      break;
    case CommKind::all_gather: {
      const std::int64_t chunk = bytes / n;
      add(NcclCallKind::all_gather, WireType::u8, chunk, 0, 0, 0);
      call.send_bytes = chunk;
      call.recv_bytes = chunk * n;
      break;
    }
    case CommKind::reduce_scatter: {
      const std::int64_t chunk = red_count / n;
      add(NcclCallKind::reduce_scatter, red, chunk, 0, 0, 0);
      call.send_bytes = chunk * n * wire_bytes(red);
      call.recv_bytes = chunk * wire_bytes(red);
      break;
    }
    case CommKind::broadcast:
      add(NcclCallKind::broadcast, WireType::u8, bytes, position_in(sorted, op.root), 0, 0);
      call.send_bytes = call.recv_bytes = bytes;
      break;
    case CommKind::reduce:
      add(NcclCallKind::reduce, red, red_count, position_in(sorted, op.root), 0, 0);
      call.send_bytes = call.recv_bytes = red_count * wire_bytes(red);
      break;
    case CommKind::all_to_all:
    case CommKind::all_to_all_v: {
      call.grouped = true;
      const std::size_t me = position_in(op.ranks, rank);
      // Peers in NCCL-rank order; buffers laid out by peer in that order.
      std::int64_t send_off = 0;
      std::int64_t recv_off = 0;
      for (RankId peer_rank : sorted) {
        const std::size_t peer = position_in(op.ranks, peer_rank);
        const std::int64_t out =
            op.kind == CommKind::all_to_all ? bytes / n : op.matrix->at(me, peer);
        const std::int64_t in =
            op.kind == CommKind::all_to_all ? bytes / n : op.matrix->at(peer, me);
        const std::uint32_t nccl_peer = position_in(sorted, peer_rank);
        add(NcclCallKind::send, WireType::u8, out, nccl_peer, send_off, 0);
        add(NcclCallKind::recv, WireType::u8, in, nccl_peer, 0, recv_off);
        send_off += out;
        recv_off += in;
      }
      call.send_bytes = send_off;
      call.recv_bytes = recv_off;
      break;
    }
    case CommKind::send_recv: {
      call.grouped = true;
      const bool sender = op.ranks[0] == rank;
      const RankId other = sender ? op.ranks[1] : op.ranks[0];
      add(sender ? NcclCallKind::send : NcclCallKind::recv, WireType::u8, bytes,
          position_in(sorted, other), 0, 0);
      (sender ? call.send_bytes : call.recv_bytes) = bytes;
      break;
    }
  }
  return call;
}

/// Global topological order over nodes (a task, or all members of one comm op together).
/// Ready nodes are taken smallest task id first, so the order is deterministic and follows the
/// order in which the strategy added tasks wherever the dependencies allow.
std::vector<TaskId> global_order(const TaskGraph& g,
                                 const std::vector<std::vector<TaskId>>& stream_tasks) {
  const std::size_t tasks = g.task_count();
  // node of a task: comm members map to a node per comm.
  std::vector<std::uint32_t> node(tasks, kNone);
  std::vector<std::vector<TaskId>> members;  // tasks of each node
  for (std::size_t i = 0; i < tasks; ++i) {
    if (const auto m = g.comm_of(g.tasks()[i])) {
      const CommRecord& rec = g.comm(*m);
      const std::uint32_t first = rec.members.front().value;
      if (node[first] == kNone) {
        for (TaskId t : rec.members) node[t.index()] = static_cast<std::uint32_t>(members.size());
        members.push_back(rec.members);
      }
    } else {
      node[i] = static_cast<std::uint32_t>(members.size());
      members.push_back({TaskId{static_cast<std::uint32_t>(i)}});
    }
  }
  std::vector<std::uint32_t> key(members.size());
  for (std::size_t v = 0; v < members.size(); ++v) {
    std::uint32_t k = kNone;
    for (TaskId t : members[v]) k = std::min(k, t.value);
    key[v] = k;
  }
  std::vector<std::vector<std::uint32_t>> out(members.size());
  std::vector<std::uint32_t> indegree(members.size(), 0);
  auto edge = [&](TaskId a, TaskId b) {
    out[node[a.index()]].push_back(node[b.index()]);
    ++indegree[node[b.index()]];
  };
  for (const auto& list : stream_tasks) {
    for (std::size_t i = 1; i < list.size(); ++i) edge(list[i - 1], list[i]);
  }
  for (const auto& [a, b] : g.edges()) edge(a, b);
  using Item = std::pair<std::uint32_t, std::uint32_t>;  // (key, node)
  std::priority_queue<Item, std::vector<Item>, std::greater<>> ready;
  for (std::size_t v = 0; v < members.size(); ++v) {
    if (indegree[v] == 0) ready.push({key[v], static_cast<std::uint32_t>(v)});
  }
  std::vector<TaskId> order;
  order.reserve(tasks);
  std::size_t done = 0;
  while (!ready.empty()) {
    const std::uint32_t v = ready.top().second;
    ready.pop();
    ++done;
    for (TaskId t : members[v]) order.push_back(t);
    for (std::uint32_t w : out[v]) {
      if (--indegree[w] == 0) ready.push({key[w], w});
    }
  }
  if (done != members.size()) {
    std::string names;
    if (auto cycle = find_dependency_cycle(g)) {
      for (std::size_t i = 0; i < cycle->size() && i < 12; ++i) {
        names += fmt::format("{}{}", i ? " -> " : ": ", task_where(g, (*cycle)[i]));
      }
      if (cycle->size() > 12) names += " -> ...";
    }
    throw SimulationError(fmt::format(
        "deadlock: the task graph has a dependency cycle, it cannot be launched on streams{}",
        names));
  }
  return order;
}

}  // namespace

ComputeTask device_kernel_work(const ComputeTask& task) {
  if (task.kind != KernelKind::attention) return task;
  ComputeTask work = task;
  work.op.fused = false;
  const AttentionGeometry geo = attention_geometry(task.shape, task.op);
  if (task.op.causal && task.shape.n > 0 && geo.sequence > task.shape.n) {
    work.flops = Flops{task.flops.count * static_cast<double>(geo.sequence) /
                       static_cast<double>(task.shape.n)};
    work.shape.n = geo.sequence;
  }
  return work;
}

ExecutionPlan lower_graph(const TaskGraph& graph) {
  const std::size_t tasks = graph.task_count();
  const std::uint32_t rank_count = graph.rank_count();
  const std::size_t stream_count = graph.stream_names().size();
  // Tasks of every (rank, stream) in stream order, and each task's position there.
  std::vector<std::vector<TaskId>> stream_tasks(std::size_t{rank_count} * stream_count);
  std::vector<std::uint32_t> position(tasks);
  auto slot = [&](const Task& t) { return t.rank.index() * stream_count + t.stream.index(); };
  for (std::size_t i = 0; i < tasks; ++i) {
    auto& list = stream_tasks[slot(graph.tasks()[i])];
    position[i] = static_cast<std::uint32_t>(list.size());
    list.push_back(TaskId{static_cast<std::uint32_t>(i)});
  }

  ExecutionPlan plan;
  plan.global_order = global_order(graph, stream_tasks);

  // Communicator groups: distinct sorted rank sets, in order of first use.
  std::map<std::vector<RankId>, std::uint32_t> group_index;
  std::vector<std::uint32_t> comm_group(graph.comm_count());
  for (std::size_t c = 0; c < graph.comm_count(); ++c) {
    std::vector<RankId> sorted = graph.comms()[c].op.ranks;
    std::sort(sorted.begin(), sorted.end());
    auto [it, inserted] =
        group_index.emplace(sorted, static_cast<std::uint32_t>(plan.groups.size()));
    if (inserted) plan.groups.push_back(CommGroupPlan{sorted});
    comm_group[c] = it->second;
  }

  // Incoming explicit edges per task.
  std::vector<std::vector<TaskId>> incoming(tasks);
  for (const auto& [a, b] : graph.edges()) incoming[b.index()].push_back(a);

  plan.ranks.resize(rank_count);
  for (std::uint32_t r = 0; r < rank_count; ++r) plan.ranks[r].rank = RankId{r};
  // waited[consumer slot][producer slot] = highest producer position already waited for.
  std::vector<std::map<std::size_t, std::uint32_t>> waited(stream_tasks.size());
  std::vector<std::map<std::uint32_t, StreamBuffers>> buffers(rank_count);

  for (TaskId id : plan.global_order) {
    const Task& t = graph.task(id);
    RankPlan& rank = plan.ranks[t.rank.index()];
    Launch launch;
    launch.task = id;
    launch.stream = t.stream;
    // Events: keep, per producer stream, only its latest task, and only if this stream has not
    // already waited for that task or a later one of the same stream.
    const std::size_t me = slot(t);
    std::map<std::size_t, TaskId> latest;  // producer slot -> latest producer task
    for (TaskId a : incoming[id.index()]) {
      const std::size_t from = slot(graph.task(a));
      if (from == me) {
        ++plan.implied_edges;  // earlier on the same stream (a later one would be a cycle)
        continue;
      }
      auto [it, inserted] = latest.emplace(from, a);
      if (!inserted) {
        ++plan.implied_edges;
        if (position[a.index()] > position[it->second.index()]) it->second = a;
      }
    }
    for (const auto& [from, a] : latest) {
      auto [it, inserted] = waited[me].emplace(from, position[a.index()]);
      if (!inserted) {
        if (it->second >= position[a.index()]) {
          ++plan.implied_edges;
          continue;
        }
        it->second = position[a.index()];
      }
      launch.waits.push_back(a);
      ++plan.event_waits;
      if (graph.task(a).rank != t.rank) ++plan.cross_rank_waits;
    }
    std::sort(launch.waits.begin(), launch.waits.end());

    StreamBuffers& sb = buffers[t.rank.index()][t.stream.value];
    sb.stream = t.stream;
    std::string kind;
    std::int64_t kind_bytes = 0;
    if (const auto* c = graph.compute_of(t)) {
      launch.compute = lower_compute(graph, id, *c);
      if (launch.compute->substituted) ++plan.substituted_tasks;
      if (launch.compute->op != DeviceOp::copy) {
        launch.compute->input_bytes += kCallAlignmentSlack;
        launch.compute->output_bytes += kCallAlignmentSlack;
      }
      rank.input_bytes = std::max(rank.input_bytes, launch.compute->input_bytes);
      sb.output_bytes = std::max(sb.output_bytes, launch.compute->output_bytes);
      kind = std::string(to_string(c->kind));
      kind_bytes = launch.compute->input_bytes + launch.compute->output_bytes;
    } else if (const auto m = graph.comm_of(t)) {
      const std::uint32_t group = comm_group[m->index()];
      launch.comm = lower_comm(graph.comm(*m).op, t.rank, plan.groups[group].ranks);
      launch.comm->comm = *m;
      launch.comm->group = group;
      sb.send_bytes = std::max(sb.send_bytes, launch.comm->send_bytes);
      sb.recv_bytes = std::max(sb.recv_bytes, launch.comm->recv_bytes);
      kind = std::string(to_string(graph.comm(*m).op.kind));
      kind_bytes = launch.comm->send_bytes + launch.comm->recv_bytes;
    } else {
      DeviceCall d;
      d.op = DeviceOp::delay;
      d.delay = *graph.delay_of(t);
      launch.compute = d;
      kind = "delay";
    }
    auto& max_bytes = rank.max_bytes_by_kind[kind];
    max_bytes = std::max(max_bytes, kind_bytes);
    rank.launches.push_back(std::move(launch));
  }
  for (std::uint32_t r = 0; r < rank_count; ++r) {
    for (const auto& [stream, sb] : buffers[r]) plan.ranks[r].streams.push_back(sb);
  }
  return plan;
}

}  // namespace moesim::runtime

namespace moesim::runtime {

std::string plan_to_text(const TaskGraph& graph, const ExecutionPlan& plan) {
  std::string out = fmt::format(
      "execution plan: {} ranks, {} communicators, {} event waits ({} cross-rank), {} explicit "
      "edges implied by stream order or earlier waits, {} substituted tasks\n",
      plan.ranks.size(), plan.groups.size(), plan.event_waits, plan.cross_rank_waits,
      plan.implied_edges, plan.substituted_tasks);
  for (std::size_t g = 0; g < plan.groups.size(); ++g) {
    std::string ranks;
    for (RankId r : plan.groups[g].ranks)
      ranks += fmt::format("{}{}", ranks.empty() ? "" : ",", r.value);
    out += fmt::format("communicator {}: ranks [{}]\n", g, ranks);
  }
  for (const RankPlan& rank : plan.ranks) {
    out += fmt::format("rank {}: inputs {} bytes\n", rank.rank.value, rank.input_bytes);
    for (const StreamBuffers& s : rank.streams) {
      out += fmt::format("  stream {}: outputs {} bytes, send {} bytes, recv {} bytes\n",
                         graph.stream_name(s.stream), s.output_bytes, s.send_bytes, s.recv_bytes);
    }
    for (const Launch& l : rank.launches) {
      out += fmt::format("  {} on {}", graph.name_of(l.task), graph.stream_name(l.stream));
      if (!l.waits.empty()) {
        out += " after";
        for (TaskId a : l.waits) {
          const Task& p = graph.task(a);
          out +=
              fmt::format(" {}@{}/{}", graph.name_of(a), p.rank.value, graph.stream_name(p.stream));
        }
      }
      out += ": ";
      if (l.compute) {
        const DeviceCall& d = *l.compute;
        if (d.substituted) out += fmt::format("SUBSTITUTED ({}) by ", d.substitution);
        switch (d.op) {
          case DeviceOp::gemm:
            out += fmt::format("gemm m={} n={} k={} batch={}{}{}", d.m, d.n, d.k, d.batch,
                               d.transpose_a ? " A^T" : "", d.transpose_b ? " B^T" : "");
            break;
          case DeviceOp::attention_forward:
          case DeviceOp::attention_backward:
            out += fmt::format("{} heads={} seq={} dim={}{}", to_string(d.op), d.batch, d.n, d.k,
                               d.causal ? " causal" : "");
            break;
          case DeviceOp::activation_forward:
          case DeviceOp::activation_backward:
            out +=
                fmt::format("{} {} rows={} cols={}", to_string(d.op),
                            d.activation == DeviceActivation::swiglu ? "swiglu" : "gelu", d.m, d.n);
            break;
          case DeviceOp::gate_forward:
          case DeviceOp::gate_backward:
            out += fmt::format("{} tokens={} experts={} top_k={}", to_string(d.op), d.tokens,
                               d.experts, d.top_k);
            break;
          case DeviceOp::permute_forward:
          case DeviceOp::permute_backward:
          case DeviceOp::unpermute_forward:
          case DeviceOp::unpermute_backward: {
            std::string counts;
            for (std::size_t e = 0; e < d.tokens_per_expert.size() && e < 8; ++e) {
              counts += fmt::format("{}{}", e ? "," : "", d.tokens_per_expert[e]);
            }
            if (d.tokens_per_expert.size() > 8) counts += ",...";
            out += fmt::format(
                "{} tokens={} top_k={} experts={} hidden={} rows={} capacity={} "
                "per-expert=[{}]",
                to_string(d.op), d.tokens, d.top_k, d.experts, d.hidden, d.out_rows, d.capacity,
                counts);
            break;
          }
          case DeviceOp::adam:
            out += fmt::format("adam parameters={}", d.parameters);
            break;
          case DeviceOp::copy:
            out += fmt::format("copy {} bytes", d.copy_bytes);
            break;
          case DeviceOp::delay:
            out += fmt::format("delay {} us", d.delay.us());
            break;
          default:
            out += fmt::format("{} rows={} cols={}", to_string(d.op), d.m, d.n);
            break;
        }
      } else if (l.comm) {
        const CommCall& c = *l.comm;
        out += fmt::format("communicator {} as rank {}:", c.group, c.nccl_rank);
        if (c.calls.empty()) out += " (no bytes)";
        for (const NcclCall& call : c.calls) {
          out += fmt::format(" {}", to_string(call.kind));
          if (call.kind == NcclCallKind::send || call.kind == NcclCallKind::recv ||
              call.kind == NcclCallKind::broadcast || call.kind == NcclCallKind::reduce) {
            out += fmt::format("({})", call.peer);
          }
          out += fmt::format(" {}x{}B", call.count, wire_bytes(call.type));
        }
        if (c.grouped) out += " [grouped]";
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace moesim::runtime
