// moesim collective: an nccl-tests style sweep of one collective over a simulated topology,
// printing the same columns (size, count, type, time, algbw, busbw) with nccl-tests' busbw
// formulas (sim/report/bandwidth_metrics.hpp), so simulated and measured rows can be diffed.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/alltoallv_matrix.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/nccl_release.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/report/bandwidth_metrics.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::app {
namespace {

struct CollectiveOptions {
  std::string topology;
  std::string op = "all_reduce";
  std::string ranks;
  std::string min_bytes = "8";
  std::string max_bytes = "128M";
  double factor = 2.0;
  std::string model = "flow";
  std::string algo = "auto";
  std::string dtype = "fp32";
  std::string json_file;
  std::string matrix_file;  ///< nccl-tests alltoallv traffic matrix: one all-to-all-v row
  bool no_pxn = false;      ///< NCCL_PXN_DISABLE=1
  int gpus_per_thread = 1;  ///< nccl-tests -g
  std::string nccl_version = "latest";
};

network::CollectiveConfig::Choice parse_algo(const std::string& a) {
  using C = network::CollectiveConfig::Choice;
  if (a == "auto") return C::automatic;
  if (a == "ring") return C::ring;
  if (a == "tree") return C::tree;
  if (a == "nvls") return C::nvls;
  if (a == "direct") return C::direct;
  if (a == "hierarchical") return C::hierarchical;
  throw input_error("", "--algo", "unknown algorithm", a,
                    "auto, ring, tree, nvls, direct or hierarchical");
}

/// The operations --op offers: the traits rows marked cli_operation, as "a, b, c".
std::string cli_operations() {
  std::string out;
  for (const CollectiveTraits& t : all_collective_traits()) {
    if (t.cli_operation) out += (out.empty() ? "" : ", ") + std::string(t.name);
  }
  return out;
}

/// --op by moesim's name or nccl-tests' ("sendrecv", "alltoall").
std::optional<CommKind> parse_operation(const std::string& op) {
  for (const CollectiveTraits& t : all_collective_traits()) {
    if (t.cli_operation && (t.name == op || t.nccl_tests_name == op)) return t.kind;
  }
  return std::nullopt;
}

/// One all-to-all-v of an nccl-tests traffic matrix (sim/io/alltoallv_matrix.hpp) on the first
/// n ranks (or --ranks), cells rounded down to 16 bytes as alltoallv_perf does, reported with
/// its size = the busiest rank's max(sent, received), so the row diffs against the harness's.
void run_matrix(const CollectiveOptions& o) {
  const ByteMatrix file = io::load_alltoallv_matrix(o.matrix_file);
  const auto model_kind = network::parse_network_model_kind(o.model);
  if (!model_kind) throw input_error("", "--model", "unknown model", o.model, "flow or analytical");
  network::AnalyticalParams params;
  params.collective.algorithm = parse_algo(o.algo);
  params.collective.pxn = !o.no_pxn;
  params.collective.gpus_per_thread = o.gpus_per_thread;
  params.collective.nccl = network::parse_nccl_release(o.nccl_version, "--nccl-version");
  const network::Topology topo = io::load_topology(o.topology);
  const std::size_t n = file.size();
  std::vector<RankId> ranks;
  if (o.ranks.empty()) {
    if (n > topo.gpu_count()) {
      throw input_error(o.matrix_file, "", "matrix larger than the topology",
                        fmt::format("{} ranks", n), fmt::format("<= {}", topo.gpu_count()));
    }
    for (std::uint32_t r = 0; r < n; ++r) ranks.push_back(RankId{r});
  } else {
    ranks = parse_rank_list(o.ranks, topo.gpu_count(), "--ranks");
    if (ranks.size() != n) {
      throw input_error("", "--ranks", "not one rank per matrix row",
                        fmt::format("{} ranks", ranks.size()), fmt::format("{} ranks", n));
    }
  }
  auto matrix = std::make_shared<ByteMatrix>(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) matrix->set(i, j, file.at(i, j) / 16 * 16);
  }
  CommOp op;
  op.kind = CommKind::all_to_all_v;
  op.ranks = ranks;
  op.matrix = matrix;
  op.bytes = all_to_all_v_size(*matrix);
  const auto model = network::make_communication_model(topo, *model_kind, params);
  const SimTime t = model->estimate(op);
  fmt::print("# moesim collective: all_to_all_v of {} on {} ({} ranks), model {}\n", o.matrix_file,
             topo.name(), n, o.model);
  fmt::print("# {:>12} {:>14} {:>8} {:>8}\n", "size(B)", "time(us)", "algbw", "busbw");
  fmt::print("  {:>12} {:>14.2f} {:>8.2f} {:>8.2f}\n", op.bytes.count, t.us(),
             report::algbw_gbps(op.bytes, t),
             report::busbw_gbps(CommKind::all_to_all_v, n, op.bytes, t));
}

void run_collective(const CollectiveOptions& o) {
  io::check_output_path(o.json_file, "--json", {o.topology, o.matrix_file});
  if (!o.matrix_file.empty()) {
    if (!o.json_file.empty()) {
      throw input_error("", "--json", "not written for --alltoallv-matrix", o.json_file,
                        "no --json with a matrix");
    }
    run_matrix(o);
    return;
  }
  const std::optional<CommKind> parsed = parse_operation(o.op);
  if (!parsed) {
    throw input_error("", "--op", "unknown operation", o.op, "one of " + cli_operations());
  }
  const CommKind kind = *parsed;
  const auto model_kind = network::parse_network_model_kind(o.model);
  if (!model_kind) throw input_error("", "--model", "unknown model", o.model, "flow or analytical");
  const auto dtype = parse_dtype(o.dtype);
  if (!dtype) throw input_error("", "--dtype", "unknown type", o.dtype, "fp32, fp16, bf16, fp8");
  const std::int64_t lo = parse_byte_size(o.min_bytes, "-b");
  const std::int64_t hi = parse_byte_size(o.max_bytes, "-e");
  if (hi < lo) throw input_error("", "-e", "smaller than -b", o.max_bytes, ">= " + o.min_bytes);
  if (!(o.factor > 1.0) || !std::isfinite(o.factor)) {
    throw input_error("", "-f", "out of range", fmt::format("{}", o.factor), "> 1");
  }
  // A bounded sweep: each row is a full collective simulation.
  constexpr double kMaxRows = 10000;
  const double rows_wanted =
      std::floor(std::log(static_cast<double>(hi) / static_cast<double>(lo)) / std::log(o.factor)) +
      1;
  if (!(rows_wanted <= kMaxRows)) {
    throw input_error("", "-f", "step factor too small for the size range",
                      fmt::format("{} (about {:.3g} rows from {} to {})", o.factor, rows_wanted,
                                  o.min_bytes, o.max_bytes),
                      fmt::format("at most {} rows: a larger -f or a narrower -b..-e", kMaxRows));
  }
  network::AnalyticalParams params;
  params.collective.algorithm = parse_algo(o.algo);
  params.collective.pxn = !o.no_pxn;
  params.collective.gpus_per_thread = o.gpus_per_thread;
  params.collective.nccl = network::parse_nccl_release(o.nccl_version, "--nccl-version");

  const network::Topology topo = io::load_topology(o.topology);
  const std::vector<RankId> ranks = parse_rank_list(o.ranks, topo.gpu_count(), "--ranks");
  const std::size_t n = ranks.size();
  const auto model = network::make_communication_model(topo, *model_kind, params);

  const std::int64_t type_bytes = dtype_bytes(*dtype);
  const CollectiveTraits& traits = traits_of(kind);
  const std::int64_t align =
      type_bytes * (traits.per_rank_chunks() ? static_cast<std::int64_t>(n) : 1);

  // Every row is computed before anything is printed: an algorithm the operation cannot run
  // (found at the first row) leaves stdout empty, not a header without rows.
  std::string table;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (double s = static_cast<double>(lo); s <= static_cast<double>(hi) * (1 + 1e-12);
       s *= o.factor) {
    const std::int64_t size = static_cast<std::int64_t>(s) / align * align;
    if (size <= 0) continue;
    CommOp op;
    op.kind = kind;
    op.dtype = *dtype;
    op.bytes = Bytes{size};
    op.ranks = ranks;
    op.root = ranks.front();
    if (traits.two_ranks && n > 2) {
      // nccl-tests sendrecv: every rank sends to the next and receives from the previous.
      auto m = std::make_shared<ByteMatrix>(n);
      for (std::size_t i = 0; i < n; ++i) m->set(i, (i + 1) % n, size);
      op.kind = CommKind::all_to_all_v;
      op.matrix = m;
    }
    const SimTime t = model->estimate(op);
    const double algbw = report::algbw_gbps(op.bytes, t);
    const double busbw = report::busbw_gbps(kind, n, op.bytes, t);
    const auto best = network::nccl_best(topo, op, params.collective);
    const std::string algo =
        fmt::format("{}/{}", network::to_string(best.algorithm), network::to_string(best.protocol));
    // nccl-tests' count column: elements per rank's input (all_gather: its contribution).
    const std::int64_t count =
        size / type_bytes / (traits.size == SizeConvention::gathered_output ? n : 1);
    table += fmt::format("  {:>12} {:>12} {:>6} {:>14.2f} {:>8.2f} {:>8.2f}  {}\n", size, count,
                         to_string(*dtype), t.us(), algbw, busbw, algo);
    nlohmann::ordered_json row;
    row["size_bytes"] = size;
    row["count"] = count;
    row["type"] = std::string(to_string(*dtype));
    row["time_us"] = t.us();
    row["algbw_gbps"] = algbw;
    row["busbw_gbps"] = busbw;
    row["algorithm"] = algo;
    rows.push_back(std::move(row));
  }
  fmt::print("# moesim collective: {} on {} ({} ranks), model {}, algo {}\n", o.op, topo.name(), n,
             o.model, o.algo);
  fmt::print("# {:>12} {:>12} {:>6} {:>14} {:>8} {:>8}  {}\n", "size(B)", "count", "type",
             "time(us)", "algbw", "busbw", "algorithm");
  fmt::print("{}", table);
  if (!o.json_file.empty()) {
    nlohmann::ordered_json j;
    j["topology"] = topo.name();
    j["op"] = o.op;
    j["ranks"] = n;
    j["model"] = o.model;
    j["rows"] = std::move(rows);
    io::write_file_atomically(o.json_file, j.dump(2) + "\n");
  }
}

}  // namespace

void register_collective_command(CLI::App& root) {
  auto o = std::make_shared<CollectiveOptions>();
  CLI::App* cmd = root.add_subcommand(
      "collective",
      "Sweep one collective over sizes on a simulated topology; prints nccl-tests' table\n"
      "(size, count, type, time, algbw, busbw with nccl-tests' busbw factors).\n"
      "The flow model shares links max-min fairly among the operation's flows; the analytical\n"
      "model is NCCL's tuning model (alpha-beta, no contention).\n"
      "Example: moesim collective --topology dgx-h100 --op all_reduce -b 8 -e 8G -f 2\n"
      "         moesim collective --topology cluster.json --op all_to_all --ranks 0-63 \\\n"
      "             -b 1M -e 1G --model analytical --json a2a.json");
  cmd->add_option("--topology,-t", o->topology, "Topology preset or JSON file")->required();
  cmd->add_option("--op", o->op, cli_operations() + " (or nccl-tests' names: sendrecv, alltoall)")
      ->capture_default_str();
  cmd->add_option("--ranks", o->ranks, "Ranks, e.g. 0-63 or 0,8,16 (default: every GPU)");
  cmd->add_option("-b,--minbytes", o->min_bytes, "Smallest size (nccl-tests size)")
      ->capture_default_str();
  cmd->add_option("-e,--maxbytes", o->max_bytes, "Largest size")->capture_default_str();
  cmd->add_option("-f,--stepfactor", o->factor, "Size multiplier between rows")
      ->check(number_in(1.0, 1024.0, true))
      ->capture_default_str();
  cmd->add_option("--model", o->model, "flow or analytical")->capture_default_str();
  cmd->add_option("--algo", o->algo,
                  "auto (what NCCL would pick: its tuning model's argmin; an all-to-all is "
                  "always NCCL's direct grouped send/recv, PXN across rails), ring, tree, nvls, "
                  "direct, or hierarchical (a 2D all-to-all NCCL does not run: intra-node "
                  "aggregation by local rank, then one message per node pair and rail; only "
                  "when asked for, as a what-if)")
      ->capture_default_str();
  cmd->add_flag("--no-pxn", o->no_pxn,
                "As NCCL_PXN_DISABLE=1: an all-to-all's cross-rail transfers leave by the sender's "
                "own NIC (default: PXN, NCCL >= 2.12, relays them over NVLink to the GPU on the "
                "destination's rail)");
  cmd->add_option("-g,--gpus-per-thread", o->gpus_per_thread,
                  "As nccl-tests -g: one host thread drives this many GPUs of a node and launches "
                  "their kernels one after the other; each collective pays the preset's "
                  "group_launch_us per GPU beyond the first (default 1: a process per GPU)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--nccl-version", o->nccl_version,
                  "NCCL release to run as, e.g. 2.4.8 or 2.18.5: a release before 2.5 has no "
                  "LL128 and no tree inside one node, before 2.12 no PXN, before 2.17 no NVLS "
                  "(default latest: today's NCCL)")
      ->capture_default_str();
  cmd->add_option("--dtype,-d", o->dtype, "fp32, fp16, bf16, fp8")->capture_default_str();
  cmd->add_option("--json", o->json_file, "Also write the rows as JSON here ('-' = stdout)");
  cmd->add_option("--alltoallv-matrix", o->matrix_file,
                  "Instead of a sweep, one all-to-all-v of this nccl-tests alltoallv_perf traffic "
                  "matrix (e.g. from 'moesim routing export'), on ranks 0..n-1 or --ranks")
      ->check(CLI::ExistingFile);
  cmd->callback([o]() { run_collective(*o); });
}

}  // namespace moesim::app
