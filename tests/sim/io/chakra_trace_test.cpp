// Chakra execution traces: export then import gives a graph that simulates to the same times,
// with collectives, an all-to-all-v (per-peer splits), a send/recv and a cross-rank dependency;
// and a plain protobuf decoder (protoc --decode_raw, not our schema) reads every message.
#include "sim/io/chakra_trace.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/network/ideal_network_model.hpp"

namespace moesim::io {
namespace {

ComputeTask gemm(std::int64_t m) {
  ComputeTask k;
  k.kind = KernelKind::gemm;
  k.shape = {m, 512, 256, 1};
  k.flops = Flops{2.0 * static_cast<double>(m) * 512 * 256};
  k.bytes = Bytes{(m * 256 + 256 * 512 + m * 512) * 2};
  return k;
}

/// Three ranks: a gemm each, an all-to-all-v with a skewed matrix, an all-reduce over ranks 0
/// and 1, a send from 1 to 2, a delay on rank 2 that waits for rank 0's gemm.
TaskGraph mixed_graph() {
  TaskGraph g(3);
  const StreamId compute = g.stream("compute");
  const StreamId comm = g.stream("comm");
  std::vector<TaskId> k;
  for (std::uint32_t r = 0; r < 3; ++r) {
    k.push_back(g.add_compute("gemm", RankId{r}, compute, gemm(1024 * (r + 1)),
                              TaskInfo{Phase::forward, 0}));
  }
  CommOp a2av;
  a2av.kind = CommKind::all_to_all_v;
  a2av.group = CommGroup::ep;
  a2av.ranks = {RankId{0}, RankId{1}, RankId{2}};
  auto m = std::make_shared<ByteMatrix>(3);
  const std::int64_t cells[3][3] = {{0, 1 << 20, 3 << 20}, {1 << 18, 0, 5 << 20}, {7, 8 << 20, 0}};
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) m->set(i, j, cells[i][j]);
  }
  a2av.matrix = m;
  a2av.bytes = all_to_all_v_size(*m);
  const auto dispatch = g.add_collective("ep.dispatch", a2av, comm, TaskInfo{Phase::forward, 0});
  for (std::uint32_t r = 0; r < 3; ++r) g.depend(k[r], dispatch[r]);
  CommOp ar;
  ar.kind = CommKind::all_reduce;
  ar.group = CommGroup::dp;
  ar.ranks = {RankId{0}, RankId{1}};
  ar.bytes = Bytes{64 << 20};
  g.add_collective("dp.all_reduce", ar, comm, TaskInfo{Phase::backward, 0});
  CommOp p2p;
  p2p.kind = CommKind::send_recv;
  p2p.group = CommGroup::pp;
  p2p.ranks = {RankId{1}, RankId{2}};
  p2p.bytes = Bytes{2 << 20};
  const CommId send = g.add_comm("pp.send", p2p);
  const StreamId pp = g.stream("pp");
  g.add_comm_member(send, RankId{1}, pp);
  g.add_comm_member(send, RankId{2}, pp);
  const TaskId wait = g.add_delay("host.wait", RankId{2}, compute, SimTime::from_ps(1'234'567));
  g.depend(k[0], wait);  // cross-rank: Chakra carries it as moesim.remote_deps
  return g;
}

ExecutionRecord simulate(const TaskGraph& g) {
  compute::FixedRateComputeModel compute({});
  network::IdealNetworkModel network(Bandwidth::from_gbps(50), SimTime::from_us(2));
  SimulatedExecutor executor(compute, network);
  return executor.run(g);
}

/// (rank, stream, name, k-th such task) -> (start, end): independent of task ids.
std::map<std::tuple<std::uint32_t, std::string, std::string, int>, std::pair<SimTime, SimTime>>
timeline(const TaskGraph& g, const ExecutionRecord& r) {
  std::map<std::tuple<std::uint32_t, std::string, std::string, int>, std::pair<SimTime, SimTime>>
      out;
  std::map<std::tuple<std::uint32_t, std::string, std::string>, int> seen;
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const TaskId id{static_cast<std::uint32_t>(i)};
    const Task& t = g.task(id);
    const auto key = std::make_tuple(t.rank.value, std::string(g.stream_name(t.stream)),
                                     std::string(g.name_of(id)));
    out[{t.rank.value, std::get<1>(key), std::get<2>(key), seen[key]++}] = {r.tasks[i].start,
                                                                            r.tasks[i].end};
  }
  return out;
}

}  // namespace

TEST(ChakraTrace, RoundTripSimulatesToTheSameTimeline) {
  if (!chakra_supported()) GTEST_SKIP() << "built without protobuf";
  const TaskGraph g = mixed_graph();
  const ExecutionRecord before = simulate(g);
  const auto traces = chakra_rank_traces(g, before);
  ASSERT_EQ(traces.size(), 3u);
  const TaskGraph back = task_graph_from_chakra(traces, {"r0.et", "r1.et", "r2.et"});
  EXPECT_EQ(back.rank_count(), 3u);
  EXPECT_EQ(back.task_count(), g.task_count());
  EXPECT_EQ(back.comm_count(), g.comm_count());
  const ExecutionRecord after = simulate(back);
  EXPECT_EQ(after.makespan(), before.makespan());
  EXPECT_EQ(timeline(back, after), timeline(g, before));
  bool saw_a2av = false;
  for (const CommRecord& c : back.comms()) {
    if (c.op.kind != CommKind::all_to_all_v) continue;
    saw_a2av = true;
    const ByteMatrix& original = *g.comms()[0].op.matrix;
    for (std::size_t i = 0; i < 3; ++i) {
      for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(c.op.matrix->at(i, j), original.at(i, j));
    }
    EXPECT_EQ(c.op.group, CommGroup::ep);
  }
  EXPECT_TRUE(saw_a2av);
}

TEST(ChakraTrace, MissingCollectiveMemberIsAnInputError) {
  if (!chakra_supported()) GTEST_SKIP() << "built without protobuf";
  const TaskGraph g = mixed_graph();
  auto traces = chakra_rank_traces(g, simulate(g));
  traces[2] = traces[1];  // rank 2's file replaced by rank 1's: rank 2's members are gone
  EXPECT_THROW(task_graph_from_chakra(traces, {"a", "b", "c"}), InputError);
}

namespace {
// A hand-encoded protobuf writer (wire format only), to build a trace the way another producer
// would: no moesim attributes, a metadata node, packed dependency lists.
std::string varint(std::uint64_t v) {
  std::string out;
  do {
    const auto low = static_cast<unsigned char>(v & 0x7f);
    v >>= 7;
    out += static_cast<char>(v ? (low | 0x80) : low);
  } while (v);
  return out;
}
std::string field_varint(int field, std::uint64_t v) { return varint(field << 3) + varint(v); }
std::string field_bytes(int field, const std::string& b) {
  return varint((field << 3) | 2) + varint(b.size()) + b;
}
std::string delimited(const std::string& message) { return varint(message.size()) + message; }

std::string foreign_rank_trace() {
  std::string t = delimited(field_bytes(1, "0.0.4"));  // GlobalMetadata.version
  t += delimited(field_varint(1, 0) + field_bytes(2, "[pytorch|profiler|execution_trace|thread]") +
                 field_varint(3, 1));  // METADATA_NODE
  t += delimited(field_varint(1, 1) + field_bytes(2, "aten::mm") + field_varint(3, 4) +
                 field_bytes(4, varint(0)) + field_varint(7, 100));  // COMP_NODE, 100 us
  const std::string comm_type = field_bytes(1, "comm_type") + field_varint(9, 0);  // ALL_REDUCE
  const std::string comm_size = field_bytes(1, "comm_size") + field_varint(9, 1 << 20);
  const std::string pg_name = field_bytes(1, "pg_name") + field_bytes(29, "0");
  t += delimited(field_varint(1, 2) + field_bytes(2, "nccl:all_reduce") + field_varint(3, 7) +
                 field_bytes(5, varint(1)) + field_bytes(10, comm_type) +
                 field_bytes(10, comm_size) + field_bytes(10, pg_name));
  return t;
}
}  // namespace

TEST(ChakraTrace, ImportsTracesOfOtherProducers) {
  if (!chakra_supported()) GTEST_SKIP() << "built without protobuf";
  const std::string rank = foreign_rank_trace();
  const TaskGraph g = task_graph_from_chakra({rank, rank}, {"r0.et", "r1.et"});
  ASSERT_EQ(g.task_count(), 4u);  // the metadata nodes are no tasks
  ASSERT_EQ(g.comm_count(), 1u);
  const CommOp& op = g.comms()[0].op;
  EXPECT_EQ(op.kind, CommKind::all_reduce);
  EXPECT_EQ(op.bytes.count, 1 << 20);
  EXPECT_EQ(op.ranks, (std::vector<RankId>{RankId{0}, RankId{1}}));  // no pg_ranks: every rank
  const Task& mm = g.task(TaskId{0});
  ASSERT_TRUE(mm.kind == TaskKind::delay);
  EXPECT_EQ(*g.delay_of(mm), SimTime::from_us(100));
  EXPECT_EQ(g.stream_name(mm.stream), "compute");
  const ExecutionRecord r = simulate(g);
  EXPECT_GE(r.tasks[1].start, SimTime::from_us(100));  // the all-reduce waits for aten::mm
}

#ifdef MOESIM_PROTOC
namespace {
/// The messages of a length-delimited stream, split by hand (base-128 varint lengths).
std::vector<std::string> split_delimited(const std::string& bytes) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::uint64_t length = 0;
    int shift = 0;
    while (true) {
      const auto b = static_cast<unsigned char>(bytes.at(at++));
      length |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    out.push_back(bytes.substr(at, length));
    at += length;
  }
  return out;
}

std::string decode_raw(const std::string& message, const std::filesystem::path& scratch) {
  {
    std::FILE* f = std::fopen(scratch.c_str(), "wb");
    std::fwrite(message.data(), 1, message.size(), f);
    std::fclose(f);
  }
  const std::string command = std::string(MOESIM_PROTOC) + " --decode_raw < " + scratch.string();
  std::FILE* pipe = popen(command.c_str(), "r");
  std::string text;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  return text;
}
}  // namespace

TEST(ChakraTrace, PlainProtobufDecoderReadsEveryMessage) {
  if (!chakra_supported()) GTEST_SKIP() << "built without protobuf";
  const TaskGraph g = mixed_graph();
  const auto dir = std::filesystem::temp_directory_path() / "moesim-chakra-test";
  std::filesystem::remove_all(dir);
  const auto paths = write_chakra_traces(g, simulate(g), dir.string(), "job");
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(std::filesystem::path(paths[1]).filename(), "job.1.et");
  const TaskGraph back = load_chakra_traces(dir.string());
  EXPECT_EQ(back.task_count(), g.task_count());
  std::ifstream in(paths[0], std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto messages = split_delimited(bytes);
  // Rank 0: metadata, gemm, all-to-all-v, all-reduce.
  ASSERT_EQ(messages.size(), 4u);
  const std::string meta = decode_raw(messages[0], dir / "m.bin");
  EXPECT_NE(meta.find("1: \"0.0.4\""), std::string::npos) << meta;  // GlobalMetadata.version
  const std::string comp = decode_raw(messages[1], dir / "n1.bin");
  EXPECT_NE(comp.find("3: 4"), std::string::npos) << comp;  // Node.type = COMP_NODE
  EXPECT_NE(comp.find("\"num_ops\""), std::string::npos) << comp;
  const std::string coll = decode_raw(messages[2], dir / "n2.bin");
  EXPECT_NE(coll.find("3: 7"), std::string::npos) << coll;  // Node.type = COMM_COLL_NODE
  EXPECT_NE(coll.find("\"send_split_bytes\""), std::string::npos) << coll;
  EXPECT_NE(coll.find("\"pg_name\""), std::string::npos) << coll;
  std::filesystem::remove_all(dir);
}
#endif

}  // namespace moesim::io
