#include "sim/exec/execution_record.hpp"

#include <algorithm>

namespace moesim {

SimTime ExecutionRecord::makespan() const {
  SimTime end = SimTime::zero();
  for (const TaskRecord& t : tasks) end = std::max(end, t.end);
  return end;
}

}  // namespace moesim
