#include "sim/io/chrome_trace.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

namespace moesim::io {
namespace {

// Microseconds with six decimals: exactly the picosecond value, no floating-point rounding.
std::string microseconds(SimTime t) {
  const std::int64_t ps = t.ps();
  const std::int64_t whole = ps / 1'000'000;
  const std::int64_t frac = ps % 1'000'000;
  return fmt::format("{}.{:06d}", whole, frac < 0 ? -frac : frac);
}

std::string json_string(std::string_view s) { return nlohmann::json(std::string(s)).dump(); }

}  // namespace

std::string chrome_trace_events(const TaskGraph& graph, const ExecutionRecord& record,
                                const ChromeTraceOptions& options) {
  std::string out;
  out.reserve(graph.task_count() * 200);
  bool first = true;
  auto sep = [&]() {
    if (!first) out += ",\n";
    first = false;
  };
  std::set<std::pair<std::uint32_t, std::uint32_t>> threads;
  for (const Task& t : graph.tasks()) threads.insert({t.rank.value, t.stream.value});
  std::set<std::uint32_t> ranks;
  for (const auto& [rank, stream] : threads) ranks.insert(rank);
  for (std::uint32_t rank : ranks) {
    sep();
    out += fmt::format(
        R"({{"ph":"M","name":"process_name","pid":{},"tid":0,"args":{{"name":"{}rank {}"}}}})",
        rank + options.pid_offset, options.process_prefix, rank);
    sep();
    out += fmt::format(
        R"({{"ph":"M","name":"process_sort_index","pid":{},"tid":0,"args":{{"sort_index":{}}}}})",
        rank + options.pid_offset, rank + options.pid_offset);
  }
  for (const auto& [rank, stream] : threads) {
    sep();
    out += fmt::format(
        R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"args":{{"name":{}}}}})",
        rank + options.pid_offset, stream, json_string(graph.stream_name(StreamId{stream})));
  }
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const Task& t = graph.tasks()[i];
    const TaskRecord& r = record.tasks[i];
    std::string args;
    std::string category;
    if (const auto* c = graph.compute_of(t)) {
      category = "compute";
      args = fmt::format(
          R"("kernel":"{}","m":{},"n":{},"k":{},"batch":{},"dtype":"{}","flops":{},"bytes":{})",
          to_string(c->kind), c->shape.m, c->shape.n, c->shape.k, c->shape.batch,
          to_string(c->dtype), c->flops.count, c->bytes.count);
    } else if (const auto m = graph.comm_of(t)) {
      const CommOp& op = graph.comm(*m).op;
      category = "comm";
      args = fmt::format(R"("op":"{}","group":"{}","ranks":{},"bytes":{})", to_string(op.kind),
                         to_string(op.group), op.ranks.size(), op.bytes.count);
    } else {
      category = "delay";
      args = R"("delay":true)";
    }
    args += fmt::format(R"(,"phase":"{}","layer":{},"task":{},"stream":{},"device":{})",
                        to_string(t.phase), t.layer, i, t.stream.value, t.rank.value);
    sep();
    out += fmt::format(
        R"({{"ph":"X","name":{},"cat":"{}","pid":{},"tid":{},"ts":{},"dur":{},"args":{{{}}}}})",
        json_string(graph.name_of(TaskId{static_cast<std::uint32_t>(i)})), category,
        t.rank.value + options.pid_offset, t.stream.value, microseconds(r.start),
        microseconds(r.end - r.start), args);
  }
  // Flow ids are unique per edge and, through the pid offset, per record of a merged file.
  const std::uint64_t id_base = static_cast<std::uint64_t>(options.pid_offset) << 32;
  const auto& edges = graph.edges();
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const auto& [before, after] = edges[e];
    const Task& a = graph.task(before);
    const Task& b = graph.task(after);
    if (a.rank == b.rank && a.stream == b.stream) continue;
    const std::uint64_t id = id_base + e;
    sep();
    out += fmt::format(
        R"({{"ph":"s","name":"dependency","cat":"dependency","id":{},"pid":{},"tid":{},"ts":{}}})",
        id, a.rank.value + options.pid_offset, a.stream.value,
        microseconds(record.tasks[before.index()].start));
    sep();
    out += fmt::format(
        R"({{"ph":"f","bp":"e","name":"dependency","cat":"dependency","id":{},"pid":{},"tid":{},"ts":{}}})",
        id, b.rank.value + options.pid_offset, b.stream.value,
        microseconds(record.tasks[after.index()].start));
  }
  return out;
}

std::string chrome_trace(const TaskGraph& graph, const ExecutionRecord& record) {
  return fmt::format(
      "{{\"displayTimeUnit\":\"ns\",\"otherData\":{{\"source\":{},\"description\":{}}},"
      "\"distributedInfo\":{{\"backend\":\"nccl\",\"rank\":0,\"world_size\":{}}},"
      "\"traceEvents\":[\n{}\n]}}\n",
      json_string(record.source), json_string(record.description), graph.rank_count(),
      chrome_trace_events(graph, record));
}

}  // namespace moesim::io
