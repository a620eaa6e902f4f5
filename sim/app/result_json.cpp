#include "sim/app/result_json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <variant>

#include "sim/io/summary_json.hpp"
#include "sim/report/stream_timeline.hpp"
#include "sim/report/time_breakdown.hpp"

namespace moesim::app {

void print_job(const PreparedJob& p) {
  const ModelSpec& model = p.model;
  const network::Topology& topo = *p.topology;
  fmt::print("model      {} ({} layers, {} MoE, M={}, E={}, k={}, {})\n", model.name, model.layers,
             model.moe_layer_count(), model.hidden, model.experts, model.top_k,
             model.dropless ? "dropless" : fmt::format("f={}", model.capacity_factor));
  fmt::print("cluster    {}: {} nodes x {} GPUs ({}), network model {}\n", topo.name(),
             topo.node_count(), topo.gpus_per_node(), p.gpu.name,
             network::to_string(p.network_kind));
  fmt::print("layout     {}\n", p.first->layout.describe());
  fmt::print("routing    {}, {} iteration(s), {} tokens per iteration\n", p.routing->describe(),
             p.iterations, p.tokens_per_iteration);
}

nlohmann::ordered_json job_json(const PreparedJob& p) {
  nlohmann::ordered_json j;
  j["model"] = p.model.name;
  j["topology"] = p.topology->name();
  j["gpus"] = p.topology->gpu_count();
  j["gpu"] = p.gpu.name;
  j["network_model"] = network::to_string(p.network_kind);
  j["layout"] = p.first->layout.describe();
  j["routing"] = p.routing->describe();
  j["iterations"] = p.iterations;
  j["tokens_per_iteration"] = p.tokens_per_iteration;
  return j;
}

namespace {
/// Kernel time (each kernel alone) by where the profile's model took it from, and the kernels
/// the fallback priced, by kind and traits.
nlohmann::ordered_json coverage_json(const compute::CalibrationCoverage& c) {
  nlohmann::ordered_json j;
  for (const auto source :
       {calibration::EstimateSource::measured, calibration::EstimateSource::interpolated,
        calibration::EstimateSource::fallback}) {
    const auto i = static_cast<std::size_t>(source);
    j[std::string(to_string(source))] = {
        {"tasks", c.tasks[i]}, {"kernel_us", c.time[i].us()}, {"time_share", c.time_share(source)}};
  }
  auto& u = j["fallback_kernels"] = nlohmann::ordered_json::array();
  for (const compute::UncoveredKernels& k : c.uncovered) {
    u.push_back({{"kernels", k.label()}, {"tasks", k.tasks}, {"kernel_us", k.time.us()}});
  }
  return j;
}
}  // namespace

nlohmann::ordered_json strategy_result_json(const PreparedJob& p, const StrategyResult& r) {
  nlohmann::ordered_json j = job_json(p);
  j["strategy"] = r.name;
  j["iteration_us"] = r.iteration_us;
  j["mean_iteration_us"] = r.mean_iteration_us();
  j["tokens_per_s"] = r.tokens_per_s(p.tokens_per_iteration);
  j["mfu"] = r.mfu(p);
  j["exposed_comm_us"] = r.exposed_comm_us();
  j["time_breakdown"] = time_breakdown_json(r.summary);
  auto& d = j["decisions"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.last.decisions) {
    auto& entry = d[k] = nlohmann::ordered_json::object();
    std::visit([&](const auto& value) { entry["value"] = value; }, v.value);
    entry["unit"] = v.unit;
    entry["detail"] = v.detail;
  }
  auto& g = j["comm_groups"] = nlohmann::ordered_json::object();
  for (const auto& [name, t] : r.groups) {
    g[name] = {{"exposed_us", t.exposed_us},
               {"overlapped_us", t.overlapped_us},
               {"operations", t.operations},
               {"bytes", t.bytes}};
  }
  if (r.calibration_coverage) j["calibration_coverage"] = coverage_json(*r.calibration_coverage);
  j["last_iteration"] = io::summary_to_json(r.summary);
  return j;
}

nlohmann::ordered_json time_breakdown_json(const report::IterationSummary& summary) {
  const report::TimeBreakdown b = report::mean_time_breakdown(summary);
  return {{"compute_only_us", b.compute_only.us()},
          {"overlapped_comm_us", b.overlapped_comm.us()},
          {"exposed_comm_us", b.exposed_comm.us()},
          {"idle_us", b.idle.us()}};
}

nlohmann::ordered_json timeline_json(const TaskGraph& graph, const ExecutionRecord& record,
                                     const report::IterationSummary& summary) {
  const report::StreamTimeline t =
      report::stream_timeline(graph, record, report::timeline_ranks(summary));
  // Nanoseconds are far below what a chart resolves and keep the inlined data small.
  const auto us = [](SimTime x) { return std::round(x.us() * 1e3) / 1e3; };
  nlohmann::ordered_json j;
  auto& ranks = j["ranks"] = nlohmann::ordered_json::array();
  for (RankId r : t.ranks) ranks.push_back(r.value);
  auto& rows = j["rows"] = nlohmann::ordered_json::array();
  for (const report::TimelineRow& r : t.rows)
    rows.push_back({{"rank", r.rank.value}, {"stream", r.stream}});
  j["categories"] = t.categories;
  j["names"] = t.names;
  auto& spans = j["spans"] = nlohmann::ordered_json::array();
  for (const report::TimelineSpan& s : t.spans) {
    spans.push_back({s.row, us(s.start), us(s.end), s.category, s.name});
  }
  return j;
}

}  // namespace moesim::app
