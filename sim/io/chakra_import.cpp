// Chakra import: per-rank traces back into one TaskGraph (rules: chakra_trace.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "sim/core/errors.hpp"
#include "sim/io/chakra_trace.hpp"

#ifdef MOESIM_HAS_CHAKRA
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "sim/io/chakra_attributes.hpp"

namespace moesim::io {
namespace {

using namespace chakra;

struct RankTrace {
  std::string origin;
  std::vector<pb::Node> nodes;
};

RankTrace decode(const std::string& bytes, const std::string& origin) {
  RankTrace t;
  t.origin = origin;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&stream);
  bool metadata = true;
  std::size_t index = 0;
  while (coded.CurrentPosition() < static_cast<int>(bytes.size())) {
    const std::string where = metadata ? "GlobalMetadata" : fmt::format("node #{}", index);
    std::uint32_t length = 0;
    if (!coded.ReadVarint32(&length)) {
      throw input_error(origin, where, "truncated length prefix");
    }
    const auto limit = coded.PushLimit(static_cast<int>(length));
    const bool ok = metadata ? pb::GlobalMetadata().ParseFromCodedStream(&coded)
                             : t.nodes.emplace_back().ParseFromCodedStream(&coded);
    if (!ok || !coded.ConsumedEntireMessage()) {
      throw input_error(origin, where, "not a Chakra protobuf message",
                        fmt::format("{} bytes at offset {}", length, coded.CurrentPosition()),
                        "a length-delimited GlobalMetadata followed by Nodes");
    }
    coded.PopLimit(limit);
    if (!metadata) ++index;
    metadata = false;
  }
  if (metadata) throw input_error(origin, "", "empty trace", {}, "GlobalMetadata first");
  return t;
}

std::optional<CommKind> comm_kind_of(std::int64_t type) {
  switch (type) {
    case pb::ALL_REDUCE:
      return CommKind::all_reduce;
    case pb::ALL_GATHER:
      return CommKind::all_gather;
    case pb::REDUCE_SCATTER:
      return CommKind::reduce_scatter;
    case pb::ALL_TO_ALL:
      return CommKind::all_to_all;
    case pb::BROADCAST:
      return CommKind::broadcast;
    case pb::REDUCE:
      return CommKind::reduce;
    default:
      return std::nullopt;
  }
}

std::string where_node(const pb::Node& n) { return fmt::format("node {} ({})", n.id(), n.name()); }

/// One communication being matched across the ranks' traces.
struct PendingComm {
  CommOp op;
  std::string name;
  std::vector<std::pair<RankId, const pb::Node*> > members;
  std::string origin;  ///< where it was first seen
  const pb::Node* first = nullptr;
};

}  // namespace

TaskGraph task_graph_from_chakra(const std::vector<std::string>& rank_traces,
                                 const std::vector<std::string>& origins) {
  MOESIM_CHECK(rank_traces.size() == origins.size(), "one origin per trace");
  const auto world = static_cast<std::uint32_t>(rank_traces.size());
  std::vector<RankTrace> traces;
  for (std::size_t r = 0; r < rank_traces.size(); ++r) {
    traces.push_back(decode(rank_traces[r], origins[r]));
  }
  TaskGraph graph(world);

  // Pass 1: match communication across ranks.
  std::map<std::tuple<std::string, std::int64_t>, PendingComm> collectives;  // (pg, k-th)
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, PendingComm> p2p;
  std::map<std::pair<std::uint32_t, const pb::Node*>, PendingComm*> comm_of;
  std::vector<PendingComm*> order;  // first appearance, for deterministic comm ids
  for (std::uint32_t r = 0; r < world; ++r) {
    std::map<std::string, std::int64_t> seen_on_pg;
    std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::int64_t> seen_p2p;
    const RankTrace& t = traces[r];
    for (const pb::Node& n : t.nodes) {
      const RankId rank{r};
      if (n.type() == pb::COMM_COLL_NODE) {
        const std::string pg = string_attr(n, "pg_name").value_or("");
        const auto type = int_attr(n, "comm_type");
        const auto kind = type ? comm_kind_of(*type) : std::nullopt;
        if (!kind) {
          throw input_error(t.origin, where_node(n), "unsupported collective",
                            type ? fmt::format("comm_type {}", *type) : "no comm_type",
                            "ALL_REDUCE, REDUCE, ALL_GATHER, BROADCAST, ALL_TO_ALL or "
                            "REDUCE_SCATTER");
        }
        const std::int64_t k = seen_on_pg[pg]++;
        auto [it, fresh] = collectives.try_emplace({pg, k});
        PendingComm& c = it->second;
        if (fresh) {
          c.name = n.name();
          c.origin = t.origin;
          c.first = &n;
          c.op.kind = *kind;
          c.op.bytes = Bytes{int_attr(n, "comm_size").value_or(0)};
          if (const auto ranks = ints_attr(n, "pg_ranks")) {
            for (std::int64_t x : *ranks) {
              if (x < 0 || x >= world) {
                throw input_error(t.origin, where_node(n),
                                  "pg_ranks names a rank outside the trace", fmt::format("{}", x),
                                  fmt::format("0..{}", world - 1));
              }
              c.op.ranks.push_back(RankId{static_cast<std::uint32_t>(x)});
            }
          } else {
            for (std::uint32_t x = 0; x < world; ++x) c.op.ranks.push_back(RankId{x});
          }
          c.op.group = parse_comm_group(string_attr(n, "comm_group").value_or("other"))
                           .value_or(CommGroup::other);
          c.op.dtype = parse_dtype(string_attr(n, "dtype").value_or("bf16")).value_or(DType::bf16);
          if (const auto root = int_attr(n, "root_rank")) {
            c.op.root = RankId{static_cast<std::uint32_t>(*root)};
          }
          if (ints_attr(n, "send_split_bytes")) c.op.kind = CommKind::all_to_all_v;
          order.push_back(&c);
        } else if (int_attr(n, "comm_type") != int_attr(*c.first, "comm_type") ||
                   int_attr(n, "comm_size") != int_attr(*c.first, "comm_size")) {
          throw input_error(
              t.origin, where_node(n),
              fmt::format("collective #{} on process group '{}' differs from {}'s", k, pg,
                          c.origin),
              fmt::format("comm_type {}, comm_size {}", int_attr(n, "comm_type").value_or(-1),
                          int_attr(n, "comm_size").value_or(-1)),
              fmt::format("comm_type {}, comm_size {}",
                          int_attr(*c.first, "comm_type").value_or(-1),
                          int_attr(*c.first, "comm_size").value_or(-1)));
        }
        c.members.emplace_back(rank, &n);
        comm_of[{r, &n}] = &c;
      } else if (n.type() == pb::COMM_SEND_NODE || n.type() == pb::COMM_RECV_NODE) {
        const bool send = n.type() == pb::COMM_SEND_NODE;
        const auto peer = int_attr(n, send ? "comm_dst" : "comm_src");
        if (!peer || *peer < 0 || *peer >= world) {
          throw input_error(
              t.origin, where_node(n),
              send ? "send without a valid comm_dst" : "receive without a valid comm_src",
              peer ? fmt::format("{}", *peer) : "none", fmt::format("a rank in 0..{}", world - 1));
        }
        const std::int64_t src = send ? r : *peer;
        const std::int64_t dst = send ? *peer : r;
        const std::int64_t tag = int_attr(n, "comm_tag").value_or(0);
        // Each side counts its own messages of (src, dst, tag); the k-th send meets the k-th recv.
        const std::int64_t k = seen_p2p[{src, dst, tag}]++;
        auto [it, fresh] = p2p.try_emplace({src, dst, tag, k});
        PendingComm& c = it->second;
        if (fresh) {
          c.name = n.name();
          c.origin = t.origin;
          c.first = &n;
          c.op.kind = CommKind::send_recv;
          c.op.group = parse_comm_group(string_attr(n, "comm_group").value_or("pp"))
                           .value_or(CommGroup::other);
          c.op.bytes = Bytes{int_attr(n, "comm_size").value_or(0)};
          c.op.ranks = {RankId{static_cast<std::uint32_t>(src)},
                        RankId{static_cast<std::uint32_t>(dst)}};
          order.push_back(&c);
        }
        c.members.emplace_back(rank, &n);
        comm_of[{r, &n}] = &c;
      }
    }
  }
  std::map<const PendingComm*, CommId> comm_ids;
  for (PendingComm* c : order) {
    if (c->members.size() != c->op.ranks.size()) {
      throw input_error(c->origin, where_node(*c->first),
                        "communication without all its members in the other ranks' traces",
                        fmt::format("{} of {} ranks", c->members.size(), c->op.ranks.size()),
                        "one matching node on every rank of the group");
    }
    if (c->op.kind == CommKind::all_to_all_v) {
      const std::size_t n = c->op.ranks.size();
      auto matrix = std::make_shared<ByteMatrix>(n);
      for (const auto& [rank, node] : c->members) {
        const auto pos = static_cast<std::size_t>(
            std::find(c->op.ranks.begin(), c->op.ranks.end(), rank) - c->op.ranks.begin());
        const auto split =
            ints_attr(*node, "send_split_bytes").value_or(std::vector<std::int64_t>{});
        if (pos >= n || split.size() != n) {
          throw input_error(traces[rank.index()].origin, where_node(*node),
                            "send_split_bytes does not match the group",
                            fmt::format("{} values", split.size()), fmt::format("{} values", n));
        }
        for (std::size_t j = 0; j < n; ++j) matrix->set(pos, j, split[j]);
      }
      c->op.matrix = std::move(matrix);
    }
    comm_ids[c] = graph.add_comm(c->name, c->op);
  }

  // Pass 2: tasks in trace order, then dependencies.
  std::map<std::pair<std::uint32_t, std::uint64_t>, TaskId> task_of;
  for (std::uint32_t r = 0; r < world; ++r) {
    const RankTrace& t = traces[r];
    for (const pb::Node& n : t.nodes) {
      const RankId rank{r};
      TaskInfo info;
      info.phase = parse_phase(string_attr(n, "phase").value_or("other")).value_or(Phase::other);
      info.layer = static_cast<std::int32_t>(int_attr(n, "layer").value_or(-1));
      const auto stream_name = string_attr(n, "stream");
      std::optional<TaskId> id;
      if (auto it = comm_of.find({r, &n}); it != comm_of.end()) {
        id = graph.add_comm_member(comm_ids.at(it->second), rank,
                                   graph.stream(stream_name.value_or("comm")), info);
      } else if (n.type() == pb::COMP_NODE) {
        const bool host = int_attr(n, "is_cpu_op").value_or(0) != 0;
        const StreamId stream = graph.stream(stream_name.value_or(host ? "host" : "compute"));
        const auto kernel = string_attr(n, "kernel");
        const auto kind = kernel ? parse_kernel_kind(*kernel) : std::nullopt;
        if (int_attr(n, "moesim.delay").value_or(0) != 0) {
          id = graph.add_delay(n.name(), rank, stream,
                               SimTime::from_ps(int_attr(n, "moesim.duration_ps").value_or(0)),
                               info);
        } else if (kind) {
          ComputeTask c;
          c.kind = *kind;
          c.shape = {int_attr(n, "m").value_or(0), int_attr(n, "n").value_or(0),
                     int_attr(n, "k").value_or(0), int_attr(n, "batch").value_or(1)};
          c.dtype = parse_dtype(string_attr(n, "dtype").value_or("bf16")).value_or(DType::bf16);
          c.flops = Flops{static_cast<double>(int_attr(n, "num_ops").value_or(0))};
          c.bytes = Bytes{int_attr(n, "tensor_size").value_or(0)};
          id = graph.add_compute(n.name(), rank, stream, c, info);
        } else {
          // A kernel moesim cannot cost (e.g. from PyTorch): its measured duration.
          id = graph.add_delay(n.name(), rank, stream,
                               SimTime::from_us(static_cast<double>(n.duration_micros())), info);
        }
      }
      if (!id) continue;  // metadata and memory nodes carry no work moesim models
      if (!task_of.emplace(std::make_pair(r, n.id()), *id).second) {
        throw input_error(t.origin, where_node(n), "duplicate node id", fmt::format("{}", n.id()),
                          "ids unique within a rank's trace");
      }
    }
  }
  std::set<std::pair<std::uint32_t, std::uint64_t> > node_ids;  // every node, task or not
  for (std::uint32_t r = 0; r < world; ++r) {
    for (const pb::Node& n : traces[r].nodes) node_ids.insert({r, n.id()});
  }
  for (std::uint32_t r = 0; r < world; ++r) {
    const RankTrace& t = traces[r];
    for (const pb::Node& n : t.nodes) {
      const auto self = task_of.find({r, n.id()});
      if (self == task_of.end()) continue;
      auto depend_on = [&](std::uint32_t rank, std::uint64_t id) {
        const auto before = task_of.find({rank, id});
        // A metadata or memory node is no task; waiting for it costs nothing.
        if (before == task_of.end() && node_ids.contains({rank, id})) return;
        if (before == task_of.end()) {
          throw input_error(t.origin, where_node(n), "dependency on an unknown node",
                            fmt::format("rank {} node {}", rank, id), "a node of the traces");
        }
        // The previous task on the same stream is already ordered before this one.
        const Task& b = graph.task(before->second);
        const Task& a = graph.task(self->second);
        const bool implicit = b.rank == a.rank && b.stream == a.stream &&
                              before->second.value + 1 == self->second.value;
        if (!implicit) graph.depend(before->second, self->second);
      };
      for (std::uint64_t d : n.ctrl_deps()) depend_on(r, d);
      for (std::uint64_t d : n.data_deps()) depend_on(r, d);
      if (const auto remote = ints_attr(n, "moesim.remote_deps")) {
        for (std::size_t i = 0; i + 1 < remote->size(); i += 2) {
          depend_on(static_cast<std::uint32_t>((*remote)[i]),
                    static_cast<std::uint64_t>((*remote)[i + 1]));
        }
      }
    }
  }
  graph.validate();
  return graph;
}

TaskGraph load_chakra_traces(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    throw input_error("", "--chakra", "not a directory", dir, "a directory of <prefix>.<rank>.et");
  }
  const std::regex pattern(R"((.*)\.(\d+)\.et)");
  std::map<std::string, std::map<std::uint32_t, fs::path> > by_prefix;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, pattern)) {
      by_prefix[m[1]][static_cast<std::uint32_t>(std::stoul(m[2]))] = entry.path();
    }
  }
  if (by_prefix.size() != 1) {
    std::string prefixes;
    for (const auto& [p, files] : by_prefix) prefixes += (prefixes.empty() ? "" : ", ") + p;
    throw input_error(
        dir, "", "expected the traces of one job",
        by_prefix.empty() ? "no <prefix>.<rank>.et files" : fmt::format("prefixes {}", prefixes),
        "one prefix");
  }
  const auto& files = by_prefix.begin()->second;
  std::vector<std::string> bytes;
  std::vector<std::string> origins;
  for (std::uint32_t r = 0; r < files.size(); ++r) {
    const auto it = files.find(r);
    if (it == files.end()) {
      throw input_error(dir, "", "missing a rank's trace",
                        fmt::format("no {}.{}.et", by_prefix.begin()->first, r),
                        fmt::format("ranks 0..{}", files.size() - 1));
    }
    std::ifstream in(it->second, std::ios::binary);
    if (!in) throw input_error(it->second.string(), "", "cannot open file");
    std::ostringstream text;
    text << in.rdbuf();
    bytes.push_back(text.str());
    origins.push_back(it->second.string());
  }
  return task_graph_from_chakra(bytes, origins);
}

}  // namespace moesim::io
#endif
