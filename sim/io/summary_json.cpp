#include "sim/io/summary_json.hpp"

namespace moesim::io {

nlohmann::ordered_json summary_to_json(const report::IterationSummary& s) {
  nlohmann::ordered_json j;
  j["makespan_us"] = s.makespan.us();
  j["ranks"] = s.ranks;
  j["tasks"] = s.tasks;
  j["comm_ops"] = s.comm_ops;
  j["total_flops"] = s.total_flops;
  j["mean_compute_us"] = s.mean_compute().us();
  j["mean_comm_us"] = s.mean_comm().us();
  j["mean_exposed_comm_us"] = s.mean_exposed_comm().us();
  j["max_exposed_comm_us"] = s.max_exposed_comm().us();
  j["rank_skew_us"] = s.rank_skew().us();
  auto& groups = j["comm_groups"] = nlohmann::ordered_json::object();
  for (const auto& [name, g] : s.per_comm_group) {
    groups[name] = {
        {"total_us", g.total.us()}, {"operations", g.operations}, {"bytes", g.bytes.count}};
  }
  auto& kernels = j["kernel_kinds_us"] = nlohmann::ordered_json::object();
  for (const auto& [name, t] : s.per_kernel_kind) kernels[name] = t.us();
  auto& streams = j["stream_busy_us"] = nlohmann::ordered_json::object();
  for (const auto& [name, t] : s.per_stream_busy) streams[name] = t.us();
  auto& ranks = j["per_rank"] = nlohmann::ordered_json::array();
  for (const auto& r : s.per_rank) {
    ranks.push_back({{"end_us", r.end.us()},
                     {"compute_us", r.compute_busy.us()},
                     {"comm_us", r.comm_busy.us()},
                     {"exposed_comm_us", r.exposed_comm.us()}});
  }
  return j;
}

}  // namespace moesim::io
