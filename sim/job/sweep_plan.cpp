#include "sim/job/sweep_plan.hpp"

#include <fmt/format.h>

#include <type_traits>

#include "sim/core/errors.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::job {
namespace {

// The grid's settings of one configuration over the defaults of `moesim run`.
JobOptions configuration_options(const io::SweepCase& c, const std::string& grid_file) {
  return job_options_from_settings(c.settings, c.model_set, grid_file,
                                   fmt::format("case {}: ", c.id));
}

io::SweepJobFlags job_flags_of(const JobOptions& o) {
  io::SweepJobFlags f;
  f.model = o.model;
  f.set = o.overrides;
  f.topology = o.topology;
  f.nodes = o.nodes;
  f.network = o.network;
  f.gpu = o.gpu;
  f.parallel = o.parallel;
  f.order = o.order;
  f.expert_order = o.expert_order;
  f.routing = o.routing;
  f.iterations = o.iterations;
  f.calibration = o.calibration;
  return f;
}

}  // namespace

SweepPlan make_sweep_plan(const std::string& grid_file, const std::string& strategies,
                          const std::string& network_override) {
  SweepPlan plan;
  plan.strategy_specs = parse_strategy_specs(strategies, "--strategies");
  plan.grid = io::load_sweep_grid(grid_file);
  const std::size_t total = plan.grid.cases.size() * plan.strategy_specs.size();
  plan.cases.reserve(total);
  for (const io::SweepCase& c : plan.grid.cases) {
    JobOptions options = configuration_options(c, grid_file);
    if (!network_override.empty()) options.network = network_override;
    io::SweepCaseLine line;
    line.sweep = plan.grid.name;
    line.cases = total;
    line.config_id = c.id;
    line.seed = options.seed;
    line.job = job_flags_of(options);
    line.varied = c.varied;
    for (const std::string& spec : plan.strategy_specs) {
      line.index = plan.cases.size();
      line.strategy = spec;
      plan.cases.push_back(line);
    }
  }
  return plan;
}

JobOptions job_options_of(const io::SweepCaseLine& c) {
  JobOptions o;
  o.model = c.job.model;
  o.overrides = c.job.set;
  o.topology = c.job.topology;
  o.nodes = static_cast<std::size_t>(c.job.nodes);
  o.network = c.job.network;
  o.gpu = c.job.gpu;
  o.parallel = c.job.parallel;
  o.order = c.job.order;
  o.expert_order = c.job.expert_order;
  o.routing = c.job.routing;
  o.seed = c.seed;
  o.iterations = c.job.iterations;
  o.calibration = c.job.calibration;
  return o;
}

std::string strategy_name_of(const std::string& spec) {
  return std::string(strategies::make_strategy(spec, "--strategies")->name());
}

SweepShard parse_shard(const std::string& text, const std::string& flag) {
  const std::size_t slash = text.find('/');
  auto count = [](const std::string& s) -> std::size_t {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9) {
      return 0;
    }
    return static_cast<std::size_t>(std::stoul(s));
  };
  if (slash != std::string::npos) {
    const std::size_t k = count(text.substr(0, slash));
    const std::size_t n = count(text.substr(slash + 1));
    if (k >= 1 && n >= 1 && k <= n) return SweepShard{k - 1, n};
  }
  throw input_error("", flag, "not a shard", text, "K/N with 1 <= K <= N, e.g. 2/8");
}

}  // namespace moesim::job
