// Simulated vs published: the flow and analytical models against nccl-tests measurements kept in
// traces/reference/ (sources there).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/nccl_release.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/report/bandwidth_metrics.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

struct SweepKnownGap {
  double error = 0;  ///< measured relative time error
  /// The one network model the gap is recorded for ("flow" or "analytical"); empty: both. The
  /// other model is held to the row's band.
  std::string model;
};

struct SweepRow {
  double busbw_gbps = 0;
  double time_us = 0;
  double tolerance = 0;  ///< two-sided band on the relative time error, from the file
  /// At most one per model, or one for both (empty model).
  std::vector<SweepKnownGap> known_gaps;
  /// The gap recorded for `model` ("flow" or "analytical"), if any.
  const SweepKnownGap* known_gap(std::string_view model) const {
    for (const SweepKnownGap& g : known_gaps) {
      if (g.model.empty() || g.model == model) return &g;
    }
    return nullptr;
  }
};

// size_bytes -> row, from a traces/reference sweep: data rows "size,busbw,time,tolerance" and
// "# known-gap: size error [flow|analytical] reason" lines (a row the model misses, with its
// measured error; with a model name, only that model misses it; a size may have one line per
// model when both miss it by different errors).
std::map<std::int64_t, SweepRow> published_sweep(const std::string& file) {
  std::ifstream in(testing::source_path("traces/reference/" + file));
  std::map<std::int64_t, SweepRow> rows;
  std::multimap<std::int64_t, SweepKnownGap> gaps;
  std::string line;
  const std::string gap_tag = "# known-gap:";
  while (std::getline(in, line)) {
    if (line.rfind(gap_tag, 0) == 0) {
      std::stringstream ss(line.substr(gap_tag.size()));
      std::int64_t size = 0;
      double error = 0;
      std::string model;
      ss >> size >> error >> model;
      if (model != "flow" && model != "analytical") model.clear();
      gaps.emplace(size, SweepKnownGap{error, model});
      continue;
    }
    if (line.empty() || line[0] == '#' || line[0] == 's') continue;
    std::stringstream ss(line);
    std::string a, b, c, d;
    std::getline(ss, a, ',');
    std::getline(ss, b, ',');
    std::getline(ss, c, ',');
    std::getline(ss, d, ',');
    rows[std::stoll(a)] = SweepRow{std::stod(b), std::stod(c), std::stod(d), {}};
  }
  for (const auto& [size, gap] : gaps) rows.at(size).known_gaps.push_back(gap);
  return rows;
}

// The NCCL release a sweep was measured with, from its "# nccl-version: X.Y[.Z] why" line
// (required: a check runs the configuration that was measured, nccl_release.hpp).
std::optional<NcclRelease> sweep_nccl_release(const std::string& file) {
  std::ifstream in(testing::source_path("traces/reference/" + file));
  const std::string tag = "# nccl-version:";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(tag, 0) != 0) continue;
    std::stringstream ss(line.substr(tag.size()));
    std::string version;
    ss >> version;
    return parse_nccl_release(version, file);
  }
  return std::nullopt;
}

CommOp all_reduce(std::int64_t bytes) {
  CommOp op;
  op.kind = CommKind::all_reduce;
  op.bytes = Bytes{bytes};
  for (std::uint32_t r = 0; r < 8; ++r) op.ranks.push_back(RankId{r});
  return op;
}

// Every row of an 8-GPU all-reduce sweep (`algorithm`, launch mode and NCCL release as measured:
// one host thread driving `gpus_per_thread` GPUs, nccl-tests -g; the file's nccl-version), both
// models: within the row's band, or,
// for a named known gap, within 3 points of its recorded error (so a change that moves it is
// seen and the gap is re-measured rather than silently kept).
void expect_sweep_within_bands(const std::string& file, const std::string& topology,
                               std::size_t row_count, CollectiveConfig::Choice algorithm,
                               int gpus_per_thread) {
  const auto rows = published_sweep(file);
  ASSERT_EQ(rows.size(), row_count);
  const Topology t = io::load_topology(testing::source_path("topologies/" + topology));
  const std::optional<NcclRelease> release = sweep_nccl_release(file);
  ASSERT_TRUE(release.has_value()) << file << " states no '# nccl-version:' line";
  AnalyticalParams p;
  p.collective.algorithm = algorithm;
  p.collective.gpus_per_thread = gpus_per_thread;
  p.collective.nccl = *release;
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    const auto model = make_communication_model(t, kind, p);
    for (const auto& [size, row] : rows) {
      SCOPED_TRACE(fmt::format("{} {} bytes", to_string(kind), size));
      const double us = model->estimate(all_reduce(size)).us();
      const double error = (us - row.time_us) / row.time_us;
      if (const SweepKnownGap* gap = row.known_gap(to_string(kind))) {
        EXPECT_NEAR(error, gap->error, 0.03) << "simulated " << us << " us";
      } else {
        EXPECT_LE(std::fabs(error), row.tolerance) << "simulated " << us << " us";
      }
    }
  }
}

TEST(NetworkAccuracy, H100NvlsAllReduceEveryRowWithinItsBand) {
  // Held out: no constant is fitted on this sweep (NcclTuning::startup_us). Measured with -g 8;
  // the Hopper presets carry no group launch cost (topologies/dgx-h100.json).
  expect_sweep_within_bands("nd_h100_v5_all_reduce.csv", "dgx-h100.json", 12,
                            CollectiveConfig::Choice::nvls, 8);
}

TEST(NetworkAccuracy, H200NvlsAllReduceFitResidualsWithinTheirBands) {
  // In-sample: the fitting set of startup_us and nvls_chunk_overhead_us.
  expect_sweep_within_bands("nd_h200_v5_all_reduce.csv", "hgx-h200.json", 12,
                            CollectiveConfig::Choice::nvls, 8);
}

TEST(NetworkAccuracy, V100HybridCubeMeshRingAllReduceEveryRowWithinItsBand) {
  // Fitting set of the preset's group_launch_us (its 14 rows 8 B - 64 KiB, -g 8); the rows from
  // 128 KiB up are not fitted: they check NCCL's six-ring set on the DGX-1 preset
  // (collectives/ring_search.hpp) and the Volta LL cap. NCCL 2.4 ran rings inside a node, so the
  // ring is forced; the file's nccl-version 2.4.8 also leaves LL128 out.
  expect_sweep_within_bands("v100_hybrid_cube_mesh_all_reduce.csv", "dgx1-v100.json", 25,
                            CollectiveConfig::Choice::ring, 8);
}

TEST(NetworkAccuracy, A100AllReduceEveryRowWithinItsBand) {
  // Held out: group_launch_us was fitted on the V100 sweep and transferred to dgx-a100; NCCL
  // chose the algorithm (no NVLS on A100). In-sample: the 8 GiB row (the preset's NVLink
  // efficiency).
  expect_sweep_within_bands("nd_a100_v4_all_reduce.csv", "dgx-a100.json", 12,
                            CollectiveConfig::Choice::automatic, 8);
}

TEST(NetworkAccuracy, H100RingAllReduceMatchesNvlsOffPlateau) {
  // NVLS off: 365-369 GB/s busbw (stas00; nccl-tests#309 "368.76 GB/s").
  const Topology t = io::load_topology(testing::source_path("topologies/dgx-h100.json"));
  AnalyticalParams p;
  p.collective.algorithm = CollectiveConfig::Choice::ring;
  const auto model = make_communication_model(t, NetworkModelKind::flow, p);
  const CommOp op = all_reduce(8589934592);
  const double busbw = report::busbw_gbps(op.kind, 8, op.bytes, model->estimate(op));
  EXPECT_NEAR(busbw, 368.76, 0.05 * 368.76);
}

TEST(NetworkAccuracy, MultiNodeAllToAllIsBoundedByTheNics) {
  // N = 4 nodes of 8 GPUs, n = 32: busbw <= 48.5 * 4/3 * 31/32 = 62.6 GB/s; at 1 GiB the
  // simulated value must reach that bound within 5% (nothing else limits it).
  ClusterSpec spec;
  spec.nodes = 4;
  const Topology t =
      generate_cluster(io::load_topology(testing::source_path("topologies/dgx-h100.json")), spec);
  CommOp op;
  op.kind = CommKind::all_to_all;
  op.bytes = gib(1);
  for (std::uint32_t r = 0; r < 32; ++r) op.ranks.push_back(RankId{r});
  const double bound = 48.5 * 4.0 / 3.0 * 31.0 / 32.0;
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const auto model = make_communication_model(t, kind);
    const double busbw = report::busbw_gbps(op.kind, 32, op.bytes, model->estimate(op));
    EXPECT_LE(busbw, bound * 1.0001);
    EXPECT_GE(busbw, bound * 0.95);
  }
}

}  // namespace
}  // namespace moesim::network
