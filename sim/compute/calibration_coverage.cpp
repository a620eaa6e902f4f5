#include "sim/compute/calibration_coverage.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

namespace moesim::compute {

std::string UncoveredKernels::label() const {
  std::string text(to_string(kind));
  if (!traits) return text + " (pass unset)";
  const std::string t = calibration::describe(kind, *traits);
  return t.empty() ? text : text + " " + t;
}

double CalibrationCoverage::time_share(calibration::EstimateSource source) const {
  const double total = total_time().seconds();
  return total > 0.0 ? time[static_cast<std::size_t>(source)].seconds() / total : 0.0;
}

double CalibrationCoverage::share_of(const UncoveredKernels& group) const {
  const double total = total_time().seconds();
  return total > 0.0 ? group.time.seconds() / total : 0.0;
}

CalibrationCoverage calibration_coverage(const TaskGraph& graph,
                                         const CalibratedComputeModel& model) {
  // Kernels are interned (Task::body): price each distinct one once, then weigh by its tasks.
  struct Priced {
    calibration::EstimateSource source;
    SimTime time;
  };
  std::unordered_map<std::uint32_t, Priced> priced;
  using Key = std::tuple<KernelKind, bool, calibration::KernelTraits>;
  std::map<Key, UncoveredKernels> uncovered;
  CalibrationCoverage c;
  for (const Task& task : graph.tasks()) {
    const ComputeTask* kernel = graph.compute_of(task);
    if (kernel == nullptr) continue;
    auto it = priced.find(task.body);
    if (it == priced.end()) {
      it = priced
               .emplace(task.body, Priced{model.source_of(*kernel),
                                          model.duration(*kernel, ComputeContext{task.rank})})
               .first;
    }
    const auto s = static_cast<std::size_t>(it->second.source);
    ++c.tasks[s];
    c.time[s] += it->second.time;
    if (it->second.source != calibration::EstimateSource::fallback) continue;
    const auto traits = calibration::traits_of(*kernel);
    const Key key{kernel->kind, traits.has_value(), traits.value_or(calibration::KernelTraits{})};
    UncoveredKernels& u = uncovered[key];
    u.kind = kernel->kind;
    u.traits = traits;
    ++u.tasks;
    u.time += it->second.time;
  }
  for (auto& [key, u] : uncovered) c.uncovered.push_back(std::move(u));
  // Most time first; ties in the map's (kind, traits) order, so the output is deterministic.
  std::stable_sort(
      c.uncovered.begin(), c.uncovered.end(),
      [](const UncoveredKernels& a, const UncoveredKernels& b) { return a.time > b.time; });
  return c;
}

}  // namespace moesim::compute
