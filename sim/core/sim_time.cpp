#include "sim/core/sim_time.hpp"

#include <fmt/format.h>

#include "sim/core/errors.hpp"

namespace moesim {

void SimTime::out_of_range(double ps) {
  throw SimulationError(
      fmt::format("simulated time out of range (got {:.3g} s, expected within +-{:.3g} s, the "
                  "int64-picosecond range of SimTime): the job's sizes or rates are extreme",
                  ps * 1e-12, kLimitPs * 1e-12));
}

}  // namespace moesim
