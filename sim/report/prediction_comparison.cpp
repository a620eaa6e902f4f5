#include "sim/report/prediction_comparison.hpp"

#include <map>

#include "sim/core/errors.hpp"
#include "sim/report/iteration_summary.hpp"

namespace moesim::report {
namespace {

std::string kind_of(const TaskGraph& graph, const Task& t) {
  if (const auto* c = graph.compute_of(t)) return std::string(to_string(c->kind));
  if (const auto m = graph.comm_of(t)) {
    return std::string(to_string(graph.comm(*m).op.kind));
  }
  return "delay";
}

std::vector<ComparisonRow> rows(std::map<std::string, ComparisonRow> by_key) {
  std::vector<ComparisonRow> out;
  out.reserve(by_key.size());
  for (auto& [key, row] : by_key) {
    row.key = key;
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

std::optional<double> ComparisonRow::error() const { return relative_error(predicted, measured); }

std::optional<double> relative_error(SimTime predicted, SimTime measured) {
  if (measured == SimTime::zero()) return std::nullopt;
  return static_cast<double>(predicted.ps() - measured.ps()) / static_cast<double>(measured.ps());
}

PredictionComparison compare_predictions(const TaskGraph& graph, const ExecutionRecord& predicted,
                                         const ExecutionRecord& measured) {
  MOESIM_CHECK(
      predicted.tasks.size() == graph.task_count() && measured.tasks.size() == graph.task_count(),
      "records of {} and {} tasks for a graph of {}", predicted.tasks.size(), measured.tasks.size(),
      graph.task_count());
  std::map<std::string, ComparisonRow> kinds;
  std::map<std::string, ComparisonRow> streams;
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const Task& t = graph.tasks()[i];
    const SimTime p = predicted.tasks[i].end - predicted.tasks[i].start;
    const SimTime m = measured.tasks[i].end - measured.tasks[i].start;
    for (ComparisonRow* row :
         {&kinds[kind_of(graph, t)], &streams[std::string(graph.stream_name(t.stream))]}) {
      ++row->tasks;
      row->predicted += p;
      row->measured += m;
    }
  }
  PredictionComparison c;
  c.per_kind = rows(std::move(kinds));
  c.per_stream = rows(std::move(streams));
  c.iteration = ComparisonRow{"iteration", static_cast<std::int64_t>(graph.task_count()),
                              predicted.makespan(), measured.makespan()};
  c.exposed_comm = ComparisonRow{"exposed_comm", static_cast<std::int64_t>(graph.comm_count()),
                                 summarize(graph, predicted).mean_exposed_comm(),
                                 summarize(graph, measured).mean_exposed_comm()};
  return c;
}

}  // namespace moesim::report
