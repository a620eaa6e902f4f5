// The cases of a sweep: every configuration of a grid x every strategy, as self-contained case
// lines in a fixed order (configuration-major, strategy-minor: the CSV's row order). Case i of a
// grid is the same job on every machine, so a sweep can be split, resumed and merged by index.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sim/io/sweep_case_line.hpp"
#include "sim/io/sweep_grid.hpp"
#include "sim/job/job_runner.hpp"

namespace moesim::job {

struct SweepPlan {
  io::SweepGrid grid;
  std::vector<std::string> strategy_specs;  ///< as given ("fastermoe:shadow=off"), "all" expanded
  std::vector<io::SweepCaseLine> cases;     ///< index order

  std::size_t configurations() const { return grid.cases.size(); }
  std::size_t strategies() const { return strategy_specs.size(); }
};

/// Loads the grid and lists its cases. `strategies` is a comma list or "all" (checked: InputError
/// naming --strategies on an unknown name); `network_override`, when not empty, replaces every
/// configuration's network model.
SweepPlan make_sweep_plan(const std::string& grid_file, const std::string& strategies,
                          const std::string& network_override);

/// The case's job flags as a JobOptions (what prepare_job takes).
JobOptions job_options_of(const io::SweepCaseLine& c);

/// The name a strategy spec's strategy reports (the CSV's strategy column).
std::string strategy_name_of(const std::string& spec);

/// Which cases one process runs: every `count`-th case starting at `first` (0-based).
struct SweepShard {
  std::size_t first = 0;
  std::size_t count = 1;
  bool contains(std::size_t index) const { return index % count == first; }
};

/// Parses "K/N" with 1 <= K <= N (shard K of N runs cases K-1, K-1+N, ...); InputError naming
/// `flag` otherwise.
SweepShard parse_shard(const std::string& text, const std::string& flag);

}  // namespace moesim::job
