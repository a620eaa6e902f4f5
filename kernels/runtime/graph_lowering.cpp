#include "kernels/runtime/graph_lowering.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <variant>

#include "sim/core/errors.hpp"
#include "sim/exec/dependency_cycle.hpp"

namespace moesim::runtime {

std::string_view to_string(DeviceOp op) {
  switch (op) {
    case DeviceOp::gemm:
      return "gemm";
    case DeviceOp::attention:
      return "attention";
    case DeviceOp::softmax_rows:
      return "softmax_rows";
    case DeviceOp::layernorm:
      return "layernorm";
    case DeviceOp::activation_gelu:
      return "activation_gelu";
    case DeviceOp::activation_swiglu:
      return "activation_swiglu";
    case DeviceOp::softmax_topk:
      return "softmax_topk";
    case DeviceOp::route_permute:
      return "route_permute";
    case DeviceOp::unpermute_combine:
      return "unpermute_combine";
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

/// Routing parameters of the gate tasks, resolved per rank in task order.
struct Routing {
  std::int32_t experts = kDefaultExperts;
  std::int32_t top_k = 1;
};

/// top_k of gate task `id`: its k when valid, else the ratio to the next permute on its rank.
std::int32_t gate_top_k(const TaskGraph& g, TaskId id, const ComputeTask& gate) {
  const std::int64_t limit = std::min(kMaxTopK, gate.shape.n);
  if (gate.shape.k >= 1 && gate.shape.k <= limit) return static_cast<std::int32_t>(gate.shape.k);
  const RankId rank = g.task(id).rank;
  for (std::size_t i = id.index() + 1; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    const auto* c = std::get_if<ComputeTask>(&t.body);
    if (t.rank != rank || c == nullptr) continue;
    if (c->kind == KernelKind::gate) break;
    if (c->kind == KernelKind::permute) {
      if (gate.shape.m > 0 && c->shape.m % gate.shape.m == 0) {
        const std::int64_t ratio = c->shape.m / gate.shape.m;
        if (ratio >= 1 && ratio <= limit) return static_cast<std::int32_t>(ratio);
      }
      break;
    }
  }
  return 1;
}

DeviceCall copy_call(std::int64_t bytes) {
  DeviceCall d;
  d.op = DeviceOp::copy;
  d.copy_bytes = std::max<std::int64_t>(bytes / 2, 0);
  d.input_bytes = d.copy_bytes;
  d.output_bytes = d.copy_bytes;
  return d;
}

DeviceCall lower_compute(const TaskGraph& g, TaskId id, const ComputeTask& c,
                         const Routing& routing) {
  const KernelShape& s = c.shape;
  const std::int64_t big = std::numeric_limits<std::int32_t>::max();
  auto dim = [&](std::string_view what, std::int64_t v) {
    return checked_int(g, id, what, v, 1, big);
  };
  DeviceCall d;
  d.fp16 = c.dtype == DType::fp16;
  switch (c.kind) {
    case KernelKind::gemm: {
      d.op = DeviceOp::gemm;
      d.m = dim("m", s.m);
      d.n = dim("n", s.n);
      d.k = dim("k", s.k);
      d.batch = dim("batch", s.batch);
      d.input_bytes = (d.m * d.k + d.k * d.n) * d.batch * kElem;
      d.output_bytes = d.m * d.n * d.batch * kElem;
      return d;
    }
    case KernelKind::attention: {
      d.op = DeviceOp::attention;
      d.n = dim("n (sequence length)", s.n);
      d.k = dim("k (head dim)", s.k);
      const std::int64_t sequences = std::max<std::int64_t>(1, s.m / d.n);
      d.m = sequences * d.n;
      d.batch = dim("batch x sequences", std::max<std::int64_t>(s.batch, 1) * sequences);
      d.input_bytes = 3 * d.batch * d.n * d.k * kElem;
      d.output_bytes = d.batch * d.n * (d.k + d.n) * kElem;  // O and the scores scratch
      return d;
    }
    case KernelKind::softmax:
    case KernelKind::layernorm: {
      d.op = c.kind == KernelKind::softmax ? DeviceOp::softmax_rows : DeviceOp::layernorm;
      d.m = dim("m (rows)", s.m);
      d.n = dim("n (columns)", s.n);
      d.input_bytes = d.m * d.n * kElem + (c.kind == KernelKind::layernorm ? 2 * d.n * kElem : 0);
      d.output_bytes = d.m * d.n * kElem;
      return d;
    }
    case KernelKind::elementwise: {
      if (s.m <= 0 || s.n <= 0) return copy_call(c.bytes.count);
      d.m = dim("m (rows)", s.m);
      d.n = checked_int(g, id, "n (columns)", s.n, 1, big / 2);
      const bool swiglu = c.bytes.count >= 3 * d.m * d.n * kElem;
      d.op = swiglu ? DeviceOp::activation_swiglu : DeviceOp::activation_gelu;
      d.input_bytes = d.m * d.n * (swiglu ? 2 : 1) * kElem;
      d.output_bytes = d.m * d.n * kElem;
      return d;
    }
    case KernelKind::gate: {
      d.op = DeviceOp::softmax_topk;
      d.tokens = dim("m (tokens)", s.m);
      d.experts = checked_int(g, id, "n (experts)", s.n, 1, kMaxGateExperts);
      d.top_k = gate_top_k(g, id, c);
      d.m = d.tokens;
      d.n = d.experts;
      d.input_bytes = std::int64_t{d.tokens} * d.experts * 4;       // fp32 logits
      d.output_bytes = std::int64_t{d.tokens} * d.top_k * (4 + 4);  // indices + probs
      return d;
    }
    case KernelKind::permute:
    case KernelKind::unpermute: {
      d.op = c.kind == KernelKind::permute ? DeviceOp::route_permute : DeviceOp::unpermute_combine;
      const std::int32_t assignments = dim("m (assignments)", s.m);
      d.hidden = dim("n (hidden)", s.n);
      d.top_k = assignments % routing.top_k == 0 ? routing.top_k : 1;
      d.tokens = assignments / d.top_k;
      d.experts = routing.experts;
      d.m = assignments;
      d.n = d.hidden;
      const std::int64_t rows = std::int64_t{assignments} * d.hidden * kElem;
      const std::int64_t token_rows = std::int64_t{d.tokens} * d.hidden * kElem;
      // Routing arrays (expert ids, destination rows, probabilities) are per-task constants the
      // executor builds once; the buffers here are the activations.
      d.input_bytes = c.kind == KernelKind::permute ? token_rows : rows;
      d.output_bytes = c.kind == KernelKind::permute ? rows : token_rows;
      return d;
    }
    case KernelKind::optimizer:
    case KernelKind::memcpy:
    case KernelKind::other:
      return copy_call(c.bytes.count);
  }
  return copy_call(c.bytes.count);
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
    if (const auto* m = std::get_if<CommTask>(&g.tasks()[i].body)) {
      const CommRecord& rec = g.comm(m->comm);
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

  // Routing context per task: the nearest earlier gate on the same rank.
  std::vector<Routing> routing_of(rank_count);
  std::vector<Routing> routing(tasks);
  for (std::size_t i = 0; i < tasks; ++i) {
    const Task& t = graph.tasks()[i];
    if (const auto* c = std::get_if<ComputeTask>(&t.body)) {
      if (c->kind == KernelKind::gate && c->shape.n >= 1 && c->shape.n <= kMaxGateExperts) {
        const TaskId id{static_cast<std::uint32_t>(i)};
        routing_of[t.rank.index()] =
            Routing{static_cast<std::int32_t>(c->shape.n), gate_top_k(graph, id, *c)};
      }
    }
    routing[i] = routing_of[t.rank.index()];
  }

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
    if (const auto* c = std::get_if<ComputeTask>(&t.body)) {
      launch.compute = lower_compute(graph, id, *c, routing[id.index()]);
      rank.input_bytes = std::max(rank.input_bytes, launch.compute->input_bytes);
      sb.output_bytes = std::max(sb.output_bytes, launch.compute->output_bytes);
      kind = std::string(to_string(c->kind));
      kind_bytes = launch.compute->input_bytes + launch.compute->output_bytes;
    } else if (const auto* m = std::get_if<CommTask>(&t.body)) {
      const std::uint32_t group = comm_group[m->comm.index()];
      launch.comm = lower_comm(graph.comm(m->comm).op, t.rank, plan.groups[group].ranks);
      launch.comm->comm = m->comm;
      launch.comm->group = group;
      sb.send_bytes = std::max(sb.send_bytes, launch.comm->send_bytes);
      sb.recv_bytes = std::max(sb.recv_bytes, launch.comm->recv_bytes);
      kind = std::string(to_string(graph.comm(m->comm).op.kind));
      kind_bytes = launch.comm->send_bytes + launch.comm->recv_bytes;
    } else {
      DeviceCall d;
      d.op = DeviceOp::delay;
      d.delay = std::get<DelayTask>(t.body).duration;
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
      "edges implied by stream order or earlier waits\n",
      plan.ranks.size(), plan.groups.size(), plan.event_waits, plan.cross_rank_waits,
      plan.implied_edges);
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
        switch (d.op) {
          case DeviceOp::gemm:
            out += fmt::format("gemm m={} n={} k={} batch={}", d.m, d.n, d.k, d.batch);
            break;
          case DeviceOp::attention:
            out += fmt::format("attention heads={} seq={} dim={}", d.batch, d.n, d.k);
            break;
          case DeviceOp::softmax_topk:
            out += fmt::format("softmax_topk tokens={} experts={} top_k={}", d.tokens, d.experts,
                               d.top_k);
            break;
          case DeviceOp::route_permute:
          case DeviceOp::unpermute_combine:
            out += fmt::format("{} tokens={} top_k={} experts={} hidden={}", to_string(d.op),
                               d.tokens, d.top_k, d.experts, d.hidden);
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
