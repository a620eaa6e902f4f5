#include "sim/calibration/calibration_profile.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "sim/core/errors.hpp"

namespace moesim::calibration {
namespace {

bool is_flop_bound_kind(KernelKind kind) {
  return kind == KernelKind::gemm || kind == KernelKind::attention;
}

/// Profile from kernel rows tagged with their source index (shared by fit and holdout check).
struct TaggedKernel {
  KernelMeasurement row;
  int source;
};

void fit_kernels(std::span<const TaggedKernel> rows, CalibrationProfile& p) {
  std::map<std::tuple<KernelKind, DType, std::int64_t, KernelTraits>, std::size_t> index;
  for (const TaggedKernel& t : rows) {
    const KernelMeasurement& r = t.row;
    if (r.verified == Verification::fail || r.time_us <= 0.0) continue;
    const KernelTraits traits = normalized(r.kind, r.traits);
    const auto key = std::make_tuple(r.kind, r.dtype, r.shape.batch, traits);
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, p.kernel_tables.size()).first;
      p.kernel_tables.emplace_back(r.kind, r.dtype, r.shape.batch, traits);
    }
    p.kernel_tables[it->second].add({r.shape.m, r.shape.n, r.shape.k, r.time_us, t.source});
    // Roofline bound from the data: highest GEMM FLOP rate, highest effective bandwidth.
    if (r.kind == KernelKind::gemm) {
      const double tflops = nominal_work(r.kind, r.shape) / (r.time_us * 1e6);
      if (tflops > p.roofline.peak_tflops) {
        p.roofline.peak_tflops = tflops;
        p.roofline.peak_source = t.source;
      }
    }
    if (p.roofline.floor_us == 0.0 || r.time_us < p.roofline.floor_us) {
      p.roofline.floor_us = r.time_us;
      p.roofline.floor_source = t.source;
    }
    const double gbps = kernel_bytes(r.kind, r.dtype, r.shape) / (r.time_us * 1e3);
    if (gbps > p.roofline.memory_gbps) {
      p.roofline.memory_gbps = gbps;
      p.roofline.memory_source = t.source;
    }
  }
  // Tables in a fixed order (kind, dtype, batch, traits) so the profile is deterministic.
  std::sort(p.kernel_tables.begin(), p.kernel_tables.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.kind(), a.dtype(), a.batch(), a.traits()) <
           std::make_tuple(b.kind(), b.dtype(), b.batch(), b.traits());
  });
  for (KernelCostTable& t : p.kernel_tables) t.finalize();
}

}  // namespace

double kernel_bytes(KernelKind kind, DType dtype, const KernelShape& shape) {
  const double e = static_cast<double>(dtype_bytes(dtype));
  const double m = static_cast<double>(shape.m);
  const double n = static_cast<double>(shape.n);
  const double k = static_cast<double>(shape.k);
  const double b = static_cast<double>(std::max<std::int64_t>(shape.batch, 1));
  switch (kind) {
    case KernelKind::gemm:
      return e * (m * k + k * n + m * n) * b;
    case KernelKind::attention:  // Q, K, V, O (m x k each) plus the scores (m x n)
      return e * (4.0 * m * k + m * n) * b;
    default:
      return 2.0 * e * m * std::max(n, 1.0) * b;
  }
}

double roofline_time_us(const RooflineFallback& roofline, KernelKind kind, DType dtype,
                        const KernelShape& shape) {
  double t = 0.0;
  if (is_flop_bound_kind(kind) && roofline.peak_tflops > 0.0) {
    t = nominal_work(kind, shape) / (roofline.peak_tflops * 1e6);
  }
  if (roofline.memory_gbps > 0.0) {
    t = std::max(t, kernel_bytes(kind, dtype, shape) / (roofline.memory_gbps * 1e3));
  }
  return std::max(t, roofline.floor_us);
}

const KernelCostTable* CalibrationProfile::find_table(KernelKind kind, DType dtype,
                                                      std::int64_t batch,
                                                      const KernelTraits& traits) const {
  const KernelTraits key = normalized(kind, traits);
  for (const KernelCostTable& t : kernel_tables) {
    if (t.kind() == kind && t.dtype() == dtype && t.batch() == batch && t.traits() == key)
      return &t;
  }
  return nullptr;
}

const CollectiveFit* CalibrationProfile::find_collective(CommKind op, int ranks, int nodes) const {
  for (const CollectiveFit& f : collectives) {
    if (f.op == op && f.ranks == ranks && f.nodes == nodes) return &f;
  }
  return nullptr;
}

std::optional<KernelEstimate> CalibrationProfile::estimate(KernelKind kind, DType dtype,
                                                           const KernelShape& shape,
                                                           const KernelTraits& traits) const {
  const KernelCostTable* t = find_table(kind, dtype, shape.batch, traits);
  if (t == nullptr) return std::nullopt;
  return t->lookup(shape.m, shape.n, shape.k);
}

std::optional<KernelEstimate> CalibrationProfile::estimate(const KernelQuery& query) const {
  return estimate(query.kind, query.dtype, query.shape, query.traits);
}

std::optional<KernelEstimate> CalibrationProfile::estimate(const ComputeTask& task) const {
  const auto query = query_of(task);
  if (!query) return std::nullopt;
  return estimate(*query);
}

CalibrationProfile fit_profile(std::span<const MeasurementSet> sets) {
  CalibrationProfile p;
  std::vector<TaggedKernel> kernels;
  std::vector<double> slowdowns;
  // (op, ranks, nodes, source) -> rows; collectives are fitted per file so each fit has one
  // source.
  std::map<std::tuple<CommKind, int, int, int>, std::vector<CollectiveMeasurement>> groups;
  for (std::size_t s = 0; s < sets.size(); ++s) {
    const int source = static_cast<int>(s);
    p.sources.push_back(sets[s].provenance);
    for (const auto& r : sets[s].kernels) kernels.push_back({r, source});
    for (const auto& r : sets[s].collectives) {
      if (r.wrong > 0 || r.time_us <= 0.0) continue;
      groups[{r.op, r.ranks, r.nodes, source}].push_back(r);
    }
    bool used = false;
    for (const auto& c : sets[s].contention) {
      // Only communication aggressors: the compute model's context counts communication ops; a
      // device copy beside a GEMM is recorded but not folded in.
      if (c.victim == "gemm" && c.aggressor != "memcpy" && c.aggressor != "gemm" &&
          c.alone_us > 0.0) {
        slowdowns.push_back(c.slowdown());
        used = true;
      }
    }
    if (used) p.contention.sources.push_back(source);
  }
  fit_kernels(kernels, p);
  for (const auto& [key, rows] : groups)
    p.collectives.push_back(fit_collective(rows, std::get<3>(key)));
  if (!slowdowns.empty()) {
    std::sort(slowdowns.begin(), slowdowns.end());
    const std::size_t n = slowdowns.size();
    p.contention.gemm_slowdown =
        n % 2 == 1 ? slowdowns[n / 2] : 0.5 * (slowdowns[n / 2 - 1] + slowdowns[n / 2]);
    p.contention.rows = static_cast<int>(n);
  }
  return p;
}

int HoldoutReport::covered() const {
  return static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const HoldoutRow& r) {
    return r.source != EstimateSource::fallback;
  }));
}

namespace {
template <typename Pred>
std::pair<double, double> mape_max(const std::vector<HoldoutRow>& rows, Pred keep) {
  double sum = 0.0;
  double max = 0.0;
  int n = 0;
  for (const HoldoutRow& r : rows) {
    if (!keep(r)) continue;
    sum += r.error();
    max = std::max(max, r.error());
    ++n;
  }
  return {n > 0 ? sum / n : 0.0, max};
}
bool is_covered(const HoldoutRow& r) { return r.source != EstimateSource::fallback; }
bool any_row(const HoldoutRow&) { return true; }
}  // namespace

double HoldoutReport::mape_covered() const { return mape_max(rows, is_covered).first; }
double HoldoutReport::max_error_covered() const { return mape_max(rows, is_covered).second; }
double HoldoutReport::mape_all() const { return mape_max(rows, any_row).first; }
double HoldoutReport::max_error_all() const { return mape_max(rows, any_row).second; }

HoldoutReport check_holdout(std::span<const MeasurementSet> sets, double holdout,
                            std::uint64_t seed) {
  if (!(holdout > 0.0 && holdout < 1.0)) {
    throw input_error("", "--holdout", "must be in (0, 1)", std::to_string(holdout), "0 < x < 1");
  }
  std::vector<TaggedKernel> all;
  for (std::size_t s = 0; s < sets.size(); ++s) {
    for (const auto& r : sets[s].kernels) {
      if (r.verified != Verification::fail && r.time_us > 0.0)
        all.push_back({r, static_cast<int>(s)});
    }
  }
  // Fisher-Yates with our own index draw: std::shuffle's output differs between standard
  // libraries, and the chosen rows must be the same everywhere for a given seed.
  std::vector<std::size_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  const auto held =
      static_cast<std::size_t>(std::llround(holdout * static_cast<double>(all.size())));
  std::vector<bool> is_held(all.size(), false);
  for (std::size_t i = 0; i < held; ++i) is_held[order[i]] = true;

  std::vector<TaggedKernel> train;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (!is_held[i]) train.push_back(all[i]);
  }
  CalibrationProfile p;
  fit_kernels(train, p);
  HoldoutReport report;
  report.fitted_rows = static_cast<int>(train.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (!is_held[i]) continue;
    const KernelMeasurement& r = all[i].row;
    HoldoutRow h{r, 0.0, EstimateSource::fallback};
    if (const auto e = p.estimate(r.kind, r.dtype, r.shape, r.traits)) {
      h.predicted_us = e->time_us;
      h.source = e->source;
    } else {
      h.predicted_us = roofline_time_us(p.roofline, r.kind, r.dtype, r.shape);
    }
    report.rows.push_back(h);
  }
  return report;
}

}  // namespace moesim::calibration
