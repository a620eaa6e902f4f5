// Hand-made execution records for report tests: each entry placed at its task's index, as an
// executor writes it.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "sim/exec/execution_record.hpp"

namespace moesim::report {

struct TimedSpan {
  TaskId task;
  double start_us = 0;
  double end_us = 0;
};

inline ExecutionRecord timed_record(std::string source, std::initializer_list<TimedSpan> spans) {
  ExecutionRecord r{std::move(source), "", {}};
  for (const TimedSpan& s : spans) {
    if (r.tasks.size() <= s.task.index()) r.tasks.resize(s.task.index() + 1);
    r.tasks[s.task.index()] = TaskRecord{SimTime::from_us(s.start_us), SimTime::from_us(s.end_us)};
  }
  return r;
}

}  // namespace moesim::report
