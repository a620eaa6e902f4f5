// Chakra export: one length-delimited trace per rank (format: chakra_trace.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "sim/core/errors.hpp"
#include "sim/io/chakra_trace.hpp"
#include "sim/io/output_file.hpp"

#ifdef MOESIM_HAS_CHAKRA
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "sim/io/chakra_attributes.hpp"

namespace moesim::io {
namespace {

using namespace chakra;

pb::CollectiveCommType chakra_comm_type(CommKind kind) {
  switch (kind) {
    case CommKind::all_reduce:
      return pb::ALL_REDUCE;
    case CommKind::all_gather:
      return pb::ALL_GATHER;
    case CommKind::reduce_scatter:
      return pb::REDUCE_SCATTER;
    case CommKind::all_to_all:
    case CommKind::all_to_all_v:
      return pb::ALL_TO_ALL;
    case CommKind::broadcast:
      return pb::BROADCAST;
    case CommKind::reduce:
      return pb::REDUCE;
    case CommKind::send_recv:
      break;
  }
  MOESIM_CHECK(false, "send_recv is not a collective");
  return pb::ALL_REDUCE;
}

std::uint64_t rounded_us(SimTime t) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, (t.ps() + 500'000) / 1'000'000));
}

void append_delimited(std::string& out, const google::protobuf::MessageLite& m) {
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteVarint32(static_cast<std::uint32_t>(m.ByteSizeLong()));
  m.SerializeWithCachedSizes(&coded);
}

/// Process-group names: one per distinct rank list, numbered by first appearance.
std::map<std::vector<RankId>, std::string> process_groups(const TaskGraph& graph) {
  std::map<std::vector<RankId>, std::string> names;
  for (const CommRecord& c : graph.comms()) {
    if (!names.contains(c.op.ranks)) names.emplace(c.op.ranks, fmt::format("{}", names.size()));
  }
  return names;
}

void fill_comm(pb::Node& node, const TaskGraph& graph, const CommRecord& c, RankId rank,
               const std::string& pg_name) {
  const CommOp& op = c.op;
  const auto position = static_cast<std::size_t>(std::find(op.ranks.begin(), op.ranks.end(), rank) -
                                                 op.ranks.begin());
  add_int(node, "comm_size", op.bytes.count);
  add_string(node, "comm_group", to_string(op.group));
  add_string(node, "dtype", to_string(op.dtype));
  add_int(node, "comm_tag", static_cast<std::int64_t>(&c - graph.comms().data()));
  if (op.kind == CommKind::send_recv) {
    const bool sender = position == 0;
    node.set_type(sender ? pb::COMM_SEND_NODE : pb::COMM_RECV_NODE);
    if (sender) add_int(node, "comm_dst", op.ranks[1].value);
    if (!sender) add_int(node, "comm_src", op.ranks[0].value);
    return;
  }
  node.set_type(pb::COMM_COLL_NODE);
  add_int(node, "comm_type", chakra_comm_type(op.kind));
  add_string(node, "pg_name", pg_name);
  std::vector<std::int64_t> ranks;
  for (RankId r : op.ranks) ranks.push_back(r.value);
  add_ints(node, "pg_ranks", ranks);
  if (op.kind == CommKind::broadcast || op.kind == CommKind::reduce) {
    add_int(node, "root_rank", op.root.value);
  }
  if (op.kind == CommKind::all_to_all_v) {
    std::vector<std::int64_t> send;
    std::vector<std::int64_t> recv;
    for (std::size_t j = 0; j < op.ranks.size(); ++j) {
      send.push_back(op.matrix->at(position, j));
      recv.push_back(op.matrix->at(j, position));
    }
    add_ints(node, "send_split_bytes", send);
    add_ints(node, "recv_split_bytes", recv);
  }
}

}  // namespace

std::vector<std::string> chakra_rank_traces(const TaskGraph& graph, const ExecutionRecord& record) {
  MOESIM_CHECK(record.tasks.size() == graph.task_count(), "record of another graph");
  const std::uint32_t ranks = graph.rank_count();
  const auto groups = process_groups(graph);
  std::vector<std::vector<TaskId> > deps(graph.task_count());
  for (const auto& [before, after] : graph.edges()) deps[after.index()].push_back(before);

  std::vector<std::string> out(ranks);
  for (std::uint32_t r = 0; r < ranks; ++r) {
    pb::GlobalMetadata meta;
    meta.set_version(kSchemaVersion);
    auto* producer = meta.add_attr();
    producer->set_name("producer");
    producer->set_string_val("moesim");
    auto* rank_attr = meta.add_attr();
    rank_attr->set_name("rank");
    rank_attr->set_int64_val(r);
    auto* world = meta.add_attr();
    world->set_name("world_size");
    world->set_int64_val(ranks);
    append_delimited(out[r], meta);
  }
  std::map<std::pair<std::uint32_t, std::uint32_t>, TaskId> last_on_stream;
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const TaskId id{static_cast<std::uint32_t>(i)};
    const Task& t = graph.task(id);
    const TaskRecord& rec = record.tasks[i];
    pb::Node node;
    node.set_id(i);
    node.set_name(std::string(graph.name_of(id)));
    node.set_start_time_micros(rounded_us(rec.start));
    node.set_duration_micros(rounded_us(rec.end - rec.start));
    const auto stream_key = std::make_pair(t.rank.value, t.stream.value);
    if (auto it = last_on_stream.find(stream_key); it != last_on_stream.end()) {
      node.add_ctrl_deps(it->second.value);
    }
    last_on_stream[stream_key] = id;
    std::vector<std::int64_t> remote;
    for (TaskId before : deps[i]) {
      const Task& b = graph.task(before);
      if (b.rank == t.rank) {
        node.add_data_deps(before.value);
      } else {
        remote.push_back(b.rank.value);
        remote.push_back(before.value);
      }
    }
    if (const auto* c = graph.compute_of(t)) {
      node.set_type(pb::COMP_NODE);
      add_bool(node, "is_cpu_op", false);
      add_int(node, "num_ops", static_cast<std::int64_t>(c->flops.count));
      add_int(node, "tensor_size", c->bytes.count);
      add_string(node, "kernel", to_string(c->kind));
      add_int(node, "m", c->shape.m);
      add_int(node, "n", c->shape.n);
      add_int(node, "k", c->shape.k);
      add_int(node, "batch", c->shape.batch);
      add_string(node, "dtype", to_string(c->dtype));
    } else if (const auto m = graph.comm_of(t)) {
      const CommRecord& comm = graph.comm(*m);
      fill_comm(node, graph, comm, t.rank, groups.at(comm.op.ranks));
    } else {
      node.set_type(pb::COMP_NODE);
      add_bool(node, "is_cpu_op", false);
      add_bool(node, "moesim.delay", true);
      add_int(node, "moesim.duration_ps", graph.delay_of(t)->ps());
    }
    add_string(node, "stream", graph.stream_name(t.stream));
    add_string(node, "phase", to_string(t.phase));
    add_int(node, "layer", t.layer);
    if (!remote.empty()) add_ints(node, "moesim.remote_deps", remote);
    append_delimited(out[t.rank.index()], node);
  }
  return out;
}

std::vector<std::string> write_chakra_traces(const TaskGraph& graph, const ExecutionRecord& record,
                                             const std::string& dir, const std::string& prefix) {
  namespace fs = std::filesystem;
  if (fs::exists(dir) && !fs::is_directory(dir)) {
    throw input_error("", "--chakra", "not a directory", dir, "a directory (created if missing)");
  }
  const auto traces = chakra_rank_traces(graph, record);
  fs::create_directories(dir);
  std::vector<std::string> paths;
  for (std::size_t r = 0; r < traces.size(); ++r) {
    paths.push_back((fs::path(dir) / fmt::format("{}.{}.et", prefix, r)).string());
    write_file_atomically(paths.back(), traces[r]);
  }
  return paths;
}

}  // namespace moesim::io
#endif
