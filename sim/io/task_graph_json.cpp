#include "sim/io/task_graph_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "sim/io/json_reader.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::io {
namespace {

/// Ranks a task graph may have: 2^20 GPUs, beyond any cluster built so far.
constexpr std::int64_t kMaxRanks = std::int64_t{1} << 20;

// Name -> the tasks created by that entry, with the rank of each.
struct Created {
  std::vector<std::pair<RankId, TaskId>> tasks;
};

/// The optional "op" object of a kernel (compute_op.hpp): what the kernel computes, for the
/// hardware executor. Absent members keep ComputeOp's defaults (unset).
ComputeOp read_compute_op(const JsonReader& o) {
  o.expect_object({"gemm_role", "direction", "activation", "top_k", "experts", "tokens_per_expert",
                   "capacity", "parameters", "sequence", "causal", "fused"});
  ComputeOp op;
  if (auto r = o.find("gemm_role")) {
    const auto role = parse_gemm_role(r->as_string());
    if (!role) r->fail("unknown GEMM role", "none, forward, input_gradient or weight_gradient");
    op.gemm_role = *role;
  }
  if (auto d = o.find("direction")) {
    const auto direction = parse_op_direction(d->as_string());
    if (!direction) d->fail("unknown direction", "none, forward or backward");
    op.direction = *direction;
  }
  if (auto a = o.find("activation")) {
    const auto activation = parse_activation_kind(a->as_string());
    if (!activation) a->fail("unknown activation", "none, gelu, relu or swiglu");
    op.activation = *activation;
  }
  constexpr std::int64_t kInt32Max = 2147483647;
  if (auto k = o.find("top_k")) {
    const std::int64_t v = k->as_int_at_least(0);
    if (v > kInt32Max) k->fail("top_k too large", "at most 2147483647");
    op.top_k = static_cast<std::int32_t>(v);
  }
  if (auto e = o.find("experts")) {
    const std::int64_t v = e->as_int_at_least(0);
    if (v > kInt32Max) e->fail("experts too large", "at most 2147483647");
    op.experts = static_cast<std::int32_t>(v);
  }
  if (auto list = o.find("tokens_per_expert")) {
    std::vector<std::int64_t> counts;
    for (const JsonReader& n : list->elements()) counts.push_back(n.as_int_at_least(0));
    op.tokens_per_expert = std::move(counts);
  }
  if (auto c = o.find("capacity")) op.capacity = c->as_int_at_least(0);
  if (auto p = o.find("parameters")) op.parameters = p->as_int_at_least(0);
  if (auto q = o.find("sequence")) op.sequence = q->as_int_at_least(0);
  if (auto c = o.find("causal")) op.causal = c->as_bool();
  if (auto f = o.find("fused")) op.fused = f->as_bool();
  return op;
}

nlohmann::ordered_json compute_op_to_json(const ComputeOp& op) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (op.gemm_role != GemmRole::none) j["gemm_role"] = to_string(op.gemm_role);
  if (op.direction != OpDirection::none) j["direction"] = to_string(op.direction);
  if (op.activation != ActivationKind::none) j["activation"] = to_string(op.activation);
  if (op.top_k != 0) j["top_k"] = op.top_k;
  if (op.experts != 0) j["experts"] = op.experts;
  if (!op.tokens_per_expert.empty()) j["tokens_per_expert"] = op.tokens_per_expert.values();
  if (op.capacity != 0) j["capacity"] = op.capacity;
  if (op.parameters != 0) j["parameters"] = op.parameters;
  if (op.sequence != 0) j["sequence"] = op.sequence;
  if (op.causal) j["causal"] = true;
  if (!op.fused) j["fused"] = false;
  return j;
}

ComputeTask read_kernel(const JsonReader& t) {
  ComputeTask c;
  if (auto o = t.find("op")) c.op = read_compute_op(*o);
  const JsonReader kind_node = t.at("kernel");
  const auto kind = parse_kernel_kind(kind_node.as_string());
  if (!kind) {
    kind_node.fail("unknown kernel kind",
                   "gemm, attention, softmax, layernorm, elementwise, gate, permute, unpermute, "
                   "optimizer, memcpy or other");
  }
  c.kind = *kind;
  // 2^31 per dimension: a GEMM dimension is at most the tokens of a micro-batch
  // (ModelSpec::kMaxTokensPerMicroBatch = 2^28) and products of three stay far inside int64.
  constexpr std::int64_t kMaxDim = std::int64_t{1} << 31;
  c.shape.m = t.has("m") ? t.at("m").as_int_in(1, kMaxDim) : 1;
  c.shape.n = t.has("n") ? t.at("n").as_int_in(1, kMaxDim) : 1;
  // k may be 0: kernels other than GEMMs leave it unused (task.hpp), and the writer keeps it.
  c.shape.k = t.has("k") ? t.at("k").as_int_in(0, kMaxDim) : 1;
  c.shape.batch = t.has("batch") ? t.at("batch").as_int_in(1, kMaxDim) : 1;
  if (auto d = t.find("dtype")) {
    const auto dtype = parse_dtype(d->as_string());
    if (!dtype) d->fail("unknown dtype", "fp32, fp16, bf16 or fp8");
    c.dtype = *dtype;
  }
  const double m = static_cast<double>(c.shape.m);
  const double n = static_cast<double>(c.shape.n);
  const double k = static_cast<double>(c.shape.k);
  const double b = static_cast<double>(c.shape.batch);
  const double e = static_cast<double>(dtype_bytes(c.dtype));
  // Defaults: a GEMM's arithmetic and its operands' traffic; other kernels read and write m x n.
  const bool gemm = c.kind == KernelKind::gemm;
  c.flops.count = t.has("flops") ? t.at("flops").as_double_at_least(0)
                                 : (gemm ? 2.0 * m * n * k * b : m * n * b);
  c.bytes.count = t.has("bytes") ? t.at("bytes").as_int_at_least(0)
                                 : static_cast<std::int64_t>(gemm ? (m * k + k * n + m * n) * b * e
                                                                  : 2.0 * m * n * b * e);
  return c;
}

CommOp read_comm(const JsonReader& t, std::uint32_t rank_count) {
  CommOp op;
  const JsonReader kind_node = t.at("comm");
  const auto kind = parse_comm_kind(kind_node.as_string());
  if (!kind) {
    kind_node.fail("unknown communication kind", comm_kind_names());
  }
  op.kind = *kind;
  std::set<std::int64_t> seen;
  for (const JsonReader& r : t.at("ranks").elements()) {
    const std::int64_t v = r.as_int_in(0, kMaxRanks - 1);
    if (!seen.insert(v).second) r.fail("rank listed twice in the group", "distinct ranks");
    if (rank_count > 0 && v >= rank_count) {
      r.fail("rank out of range", fmt::format("< {} (\"ranks\")", rank_count));
    }
    op.ranks.push_back(RankId{static_cast<std::uint32_t>(v)});
  }
  if (op.ranks.empty()) t.at("ranks").fail("empty group", "at least one rank");
  if (auto g = t.find("group")) {
    const auto group = parse_comm_group(g->as_string());
    if (!group) g->fail("unknown group", "tp, ep, esp, dp, expert_dp, pp, world or other");
    op.group = *group;
  }
  if (auto d = t.find("dtype")) {
    const auto dtype = parse_dtype(d->as_string());
    if (!dtype) d->fail("unknown dtype", "fp32, fp16, bf16 or fp8");
    op.dtype = *dtype;
  }
  const CollectiveTraits& traits = traits_of(op.kind);
  if (traits.size == SizeConvention::matrix) {
    const JsonReader rows = t.at("matrix");
    auto matrix = std::make_shared<ByteMatrix>(op.ranks.size());
    const auto row_nodes = rows.elements();
    if (row_nodes.size() != op.ranks.size()) {
      rows.fail_got("matrix has the wrong number of rows", std::to_string(row_nodes.size()),
                    std::to_string(op.ranks.size()));
    }
    for (std::size_t i = 0; i < row_nodes.size(); ++i) {
      const auto cols = row_nodes[i].elements();
      if (cols.size() != op.ranks.size()) {
        row_nodes[i].fail_got("matrix row has the wrong length", std::to_string(cols.size()),
                              std::to_string(op.ranks.size()));
      }
      for (std::size_t j = 0; j < cols.size(); ++j) matrix->set(i, j, cols[j].as_int_at_least(0));
    }
    op.bytes = all_to_all_v_size(*matrix);
    op.matrix = std::move(matrix);
  } else {
    op.bytes.count = t.at("bytes").as_int_at_least(1);
  }
  if (traits.two_ranks && op.ranks.size() != 2) {
    t.at("ranks").fail("send_recv needs exactly two ranks", "[sender, receiver]");
  }
  if (traits.rooted) {
    const std::int64_t root = t.int_or("root", op.ranks.front().value);
    op.root = RankId{static_cast<std::uint32_t>(root)};
  }
  return op;
}

}  // namespace

TaskGraph parse_task_graph(const nlohmann::json& document, const std::string& origin) {
  const JsonReader doc(document, origin);
  doc.expect_object({"ranks", "tasks", "description"});
  std::uint32_t rank_count = 0;
  if (auto r = doc.find("ranks")) {
    rank_count = static_cast<std::uint32_t>(r->as_int_in(1, kMaxRanks));
  }
  TaskGraph graph(rank_count);
  std::map<std::string, Created> by_name;
  const auto entries = doc.at("tasks").elements();
  if (entries.empty()) doc.at("tasks").fail("no tasks", "at least one task");
  for (const JsonReader& t : entries) {
    t.expect_object(
        {"name",     "rank",  "stream",       "kernel", "m",     "n",     "k",      "batch",
         "dtype",    "flops", "bytes",        "comm",   "ranks", "group", "matrix", "root",
         "delay_us", "after", "member_after", "phase",  "layer", "op"});
    const std::string name = t.at("name").as_string();
    if (name.empty()) t.at("name").fail("empty name", "a non-empty string");
    if (by_name.count(name)) t.at("name").fail("duplicate task name", "a name used once");
    const StreamId stream = graph.stream(t.at("stream").as_string());
    TaskInfo info;
    if (auto p = t.find("phase")) {
      const auto phase = parse_phase(p->as_string());
      if (!phase) p->fail("unknown phase", "forward, backward, optimizer or other");
      info.phase = *phase;
    }
    info.layer =
        t.has("layer") ? static_cast<std::int32_t>(t.at("layer").as_int_in(-1, 1 << 20)) : -1;
    const int kinds = int{t.has("kernel")} + int{t.has("comm")} + int{t.has("delay_us")};
    if (kinds != 1) {
      t.fail_got("a task needs exactly one of \"kernel\", \"comm\", \"delay_us\"",
                 std::to_string(kinds), "1");
    }
    Created created;
    auto read_rank = [&]() {
      const JsonReader r = t.at("rank");
      const std::int64_t v = r.as_int_in(0, kMaxRanks - 1);
      if (rank_count > 0 && v >= rank_count) {
        r.fail("rank out of range", fmt::format("< {} (\"ranks\")", rank_count));
      }
      return RankId{static_cast<std::uint32_t>(v)};
    };
    if (t.has("kernel")) {
      const RankId rank = read_rank();
      created.tasks.push_back({rank, graph.add_compute(name, rank, stream, read_kernel(t), info)});
    } else if (t.has("delay_us")) {
      const RankId rank = read_rank();
      // 1e12 us = 11.6 days: inside SimTime's int64-picosecond range with room for the rest.
      const double us = t.at("delay_us").as_double_in(0, 1e12);
      created.tasks.push_back(
          {rank, graph.add_delay(name, rank, stream, SimTime::from_us(us), info)});
    } else {
      CommOp op = read_comm(t, rank_count);
      const std::vector<RankId> ranks = op.ranks;
      const auto members = graph.add_collective(name, std::move(op), stream, info);
      for (std::size_t i = 0; i < ranks.size(); ++i)
        created.tasks.push_back({ranks[i], members[i]});
    }
    // Resolves one "after" item for a task on `rank`: a name (the same-rank task of that entry
    // if it has one, else all its tasks) or {"task": name, "rank": r} (exactly that task).
    auto predecessors = [&](const JsonReader& item, RankId rank) {
      std::vector<TaskId> out;
      if (item.is_object()) {
        item.expect_object({"task", "rank"});
        const JsonReader task_name = item.at("task");
        auto it = by_name.find(task_name.as_string());
        if (it == by_name.end()) task_name.fail("unknown task", "the name of an earlier task");
        const auto want = static_cast<std::uint32_t>(item.at("rank").as_int_at_least(0));
        for (const auto& [r, task] : it->second.tasks) {
          if (r.value == want) out.push_back(task);
        }
        if (out.empty())
          item.at("rank").fail("that task has no part on this rank", "one of its ranks");
        return out;
      }
      auto it = by_name.find(item.as_string());
      if (it == by_name.end()) item.fail("unknown task", "the name of an earlier task");
      for (const auto& [r, task] : it->second.tasks) {
        if (r == rank) out.push_back(task);
      }
      if (out.empty()) {
        for (const auto& [r, task] : it->second.tasks) out.push_back(task);
      }
      return out;
    };
    if (auto after = t.find("after")) {
      for (const JsonReader& item : after->elements()) {
        for (const auto& [rank, task] : created.tasks) {
          for (TaskId before : predecessors(item, rank)) graph.depend(before, task);
        }
      }
    }
    if (auto member_after = t.find("member_after")) {
      if (!t.has("comm")) member_after->fail("only communications have members", "no such field");
      const auto lists = member_after->elements();
      if (lists.size() != created.tasks.size()) {
        member_after->fail_got("one list per rank of the group is needed",
                               std::to_string(lists.size()), std::to_string(created.tasks.size()));
      }
      for (std::size_t m = 0; m < lists.size(); ++m) {
        for (const JsonReader& item : lists[m].elements()) {
          for (TaskId before : predecessors(item, created.tasks[m].first)) {
            graph.depend(before, created.tasks[m].second);
          }
        }
      }
    }
    by_name.emplace(name, std::move(created));
  }
  graph.validate();
  return graph;
}

TaskGraph load_task_graph(const std::string& path) {
  return parse_task_graph(parse_json_file(path), path);
}

std::string task_graph_to_json(const TaskGraph& graph) {
  // Entry names: each kernel or delay is one entry, each communication one entry for all its
  // members. Names repeat across ranks in a TaskGraph, so entries get "#N" suffixes.
  std::vector<std::string> entry(graph.task_count());
  std::vector<std::string> comm_entry(graph.comm_count());
  std::map<std::string, int> used;
  auto unique = [&](std::string_view base) {
    std::string n(base);
    if (const int c = used[n]++; c > 0) n += fmt::format("#{}", c);
    return n;
  };
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const TaskId id{static_cast<std::uint32_t>(i)};
    if (const auto m = graph.comm_of(graph.task(id))) {
      std::string& e = comm_entry[m->index()];
      if (e.empty()) e = unique(graph.name_of(id));
      entry[i] = e;
    } else {
      entry[i] = unique(graph.name_of(id));
    }
  }
  std::vector<std::vector<TaskId>> before_of(graph.task_count());
  for (const auto& [before, after] : graph.edges()) before_of[after.index()].push_back(before);
  // Exact form of a dependency: {"task": entry, "rank": r}.
  auto exact = [&](TaskId before) {
    return nlohmann::ordered_json{{"task", entry[before.index()]},
                                  {"rank", graph.task(before).rank.value}};
  };
  nlohmann::ordered_json doc;
  doc["ranks"] = graph.rank_count();
  auto& tasks = doc["tasks"] = nlohmann::ordered_json::array();
  std::vector<bool> comm_written(graph.comm_count(), false);
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const Task& t = graph.tasks()[i];
    nlohmann::ordered_json j;
    j["name"] = entry[i];
    if (const auto m = graph.comm_of(t)) {
      if (comm_written[m->index()]) continue;
      comm_written[m->index()] = true;
      const CommRecord& c = graph.comm(*m);
      j["comm"] = to_string(c.op.kind);
      j["stream"] = graph.stream_name(t.stream);
      j["group"] = to_string(c.op.group);
      j["dtype"] = to_string(c.op.dtype);
      auto& ranks = j["ranks"] = nlohmann::ordered_json::array();
      for (RankId r : c.op.ranks) ranks.push_back(r.value);
      if (traits_of(c.op.kind).size == SizeConvention::matrix) {
        auto& rows = j["matrix"] = nlohmann::ordered_json::array();
        for (std::size_t a = 0; a < c.op.matrix->size(); ++a) {
          auto& row = rows.emplace_back(nlohmann::ordered_json::array());
          for (std::size_t b = 0; b < c.op.matrix->size(); ++b)
            row.push_back(c.op.matrix->at(a, b));
        }
      } else {
        j["bytes"] = c.op.bytes.count;
      }
      if (traits_of(c.op.kind).rooted) {
        j["root"] = c.op.root.value;
      }
      bool any = false;
      auto lists = nlohmann::ordered_json::array();
      for (TaskId member : c.members) {
        auto& list = lists.emplace_back(nlohmann::ordered_json::array());
        for (TaskId before : before_of[member.index()]) {
          list.push_back(exact(before));
          any = true;
        }
      }
      if (any) j["member_after"] = std::move(lists);
    } else {
      j["rank"] = t.rank.value;
      j["stream"] = graph.stream_name(t.stream);
      if (const auto* c = graph.compute_of(t)) {
        j["kernel"] = to_string(c->kind);
        j["m"] = c->shape.m;
        j["n"] = c->shape.n;
        j["k"] = c->shape.k;
        j["batch"] = c->shape.batch;
        j["dtype"] = to_string(c->dtype);
        j["flops"] = c->flops.count;
        j["bytes"] = c->bytes.count;
        if (c->op != ComputeOp{}) j["op"] = compute_op_to_json(c->op);
      } else {
        j["delay_us"] = graph.delay_of(t)->us();
      }
      if (!before_of[i].empty()) {
        auto& after = j["after"] = nlohmann::ordered_json::array();
        for (TaskId before : before_of[i]) after.push_back(exact(before));
      }
    }
    j["phase"] = to_string(t.phase);
    if (t.layer >= 0) j["layer"] = t.layer;
    tasks.push_back(std::move(j));
  }
  return doc.dump(1) + "\n";
}

TaskGraph example_task_graph() {
  // Two GPUs, each: gate -> dispatch all-to-all -> expert GEMM -> combine all-to-all, with the
  // next micro-batch's attention GEMM overlapping the dispatch on the compute stream and a
  // gradient all-reduce on a third stream.
  TaskGraph g(2);
  const StreamId compute = g.stream("compute");
  const StreamId comm = g.stream("comm.ep");
  const StreamId dp = g.stream("comm.dp");
  auto gemm = [](std::int64_t m, std::int64_t n, std::int64_t k) {
    ComputeTask c;
    c.kind = KernelKind::gemm;
    c.shape = {m, n, k, 1};
    c.flops.count = 2.0 * static_cast<double>(m * n * k);
    c.bytes.count = 2 * (m * k + k * n + m * n);
    return c;
  };
  CommOp a2a;
  a2a.kind = CommKind::all_to_all;
  a2a.group = CommGroup::ep;
  a2a.ranks = {RankId{0}, RankId{1}};
  a2a.bytes = mib(32);
  CommOp ar;
  ar.kind = CommKind::all_reduce;
  ar.group = CommGroup::dp;
  ar.ranks = {RankId{0}, RankId{1}};
  ar.bytes = mib(256);
  const TaskInfo fwd{Phase::forward, 0};
  std::vector<TaskId> gate(2);
  std::vector<TaskId> expert(2);
  for (std::uint32_t r = 0; r < 2; ++r) {
    gate[r] = g.add_compute("gate", RankId{r}, compute, gemm(4096, 8, 4096), fwd);
  }
  const auto dispatch = g.add_collective("dispatch", a2a, comm, fwd);
  for (std::uint32_t r = 0; r < 2; ++r) {
    g.depend(gate[r], dispatch[r]);
    g.add_compute("attention.next", RankId{r}, compute, gemm(4096, 12288, 4096), fwd);
    expert[r] = g.add_compute("expert.fc1", RankId{r}, compute, gemm(4096, 14336, 4096), fwd);
    g.depend(dispatch[r], expert[r]);
  }
  const auto combine = g.add_collective("combine", a2a, comm, fwd);
  const auto allreduce = g.add_collective("grad.allreduce", ar, dp, {Phase::backward, 0});
  for (std::uint32_t r = 0; r < 2; ++r) {
    g.depend(expert[r], combine[r]);
    g.depend(gate[r], allreduce[r]);
  }
  return g;
}

}  // namespace moesim::io
