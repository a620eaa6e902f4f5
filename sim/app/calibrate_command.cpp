// moesim calibrate: fits measurement files (kernel/NCCL/overlap benchmarks, nccl-tests output)
// into a calibration profile, or checks the compute model on held-out measured shapes.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/calibration/calibration_profile.hpp"
#include "sim/calibration/holdout_summary.hpp"
#include "sim/compute/kernel_model_fit.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/calibration_json.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/measurement_json.hpp"
#include "sim/io/output_file.hpp"

namespace moesim::app {
namespace {

struct CalibrateOptions {
  std::vector<std::string> inputs;
  std::string output;
  bool check = false;
  double holdout = 0.2;
  std::uint64_t seed = 1;
  int seeds = 5;
  std::string gpu;                ///< fit this GPU's tile model to the GEMM rows
  std::string gpu_out;            ///< write the GPU spec with the fitted tile model here
  std::string fit_scope = "all";  ///< all | mma | fp32: which tile constants --gpu fits
};

compute::KernelModelFitScope calibrate_fit_scope_of(const std::string& name) {
  if (name == "mma") return compute::KernelModelFitScope::mma_efficiency;
  if (name == "fp32") return compute::KernelModelFitScope::fp32_mma_efficiency;
  return compute::KernelModelFitScope::all;
}

std::string shape_text(const KernelShape& s) {
  return s.batch > 1 ? fmt::format("{}x{}x{} b{}", s.m, s.n, s.k, s.batch)
                     : fmt::format("{}x{}x{}", s.m, s.n, s.k);
}

void print_profile(const calibration::CalibrationProfile& p) {
  fmt::print("sources: {}\n", p.sources.size());
  for (std::size_t i = 0; i < p.sources.size(); ++i) {
    const auto& s = p.sources[i];
    fmt::print("  [{}] {} ({}; {}; {})\n", i, s.file, s.source, s.gpu, s.date);
  }
  for (const auto& t : p.kernel_tables) {
    const std::string traits = calibration::describe(t.kind(), t.traits());
    fmt::print("kernel table {:<10} {:<5} batch {:<4} {:>5} shapes{}\n", to_string(t.kind()),
               to_string(t.dtype()), t.batch(), t.points().size(),
               traits.empty() ? "" : " (" + traits + ")");
  }
  fmt::print("roofline fallback: {:.1f} TFLOP/s, {:.1f} GB/s, floor {:.3f} us (from the data)\n",
             p.roofline.peak_tflops, p.roofline.memory_gbps, p.roofline.floor_us);
  fmt::print("contention: GEMM slowdown {:.3f} from {} overlap rows\n", p.contention.gemm_slowdown,
             p.contention.rows);
  for (const auto& f : p.collectives) {
    fmt::print(
        "collective {:<14} {:>3} ranks {:>2} nodes ({}): alpha {:.2f} us, busbw {:.2f} GB/s, "
        "fit MAPE {:.1f}% (max {:.1f}%) over {} sizes\n",
        to_string(f.op), f.ranks, f.nodes, to_string(f.level), f.alpha_us, f.busbw_gbps,
        100.0 * f.mape, 100.0 * f.max_error, f.rows);
  }
}

void print_check(const calibration::HoldoutReport& r, const CalibrateOptions& o) {
  fmt::print("held-out check: {} of {} kernel rows held out (holdout {}, seed {}), fitted on {}\n",
             r.rows.size(), r.rows.size() + static_cast<std::size_t>(r.fitted_rows), o.holdout,
             o.seed, r.fitted_rows);
  fmt::print("{:<10} {:<5} {:>20} {:>12} {:>12} {:>8}  {}\n", "kind", "dtype", "shape (m x n x k)",
             "measured us", "predicted us", "error", "from");
  for (const auto& h : r.rows) {
    // The row's traits follow its source: a held-out row is predicted from rows of its own.
    const std::string traits = calibration::describe(h.row.kind, h.row.traits);
    fmt::print("{:<10} {:<5} {:>20} {:>12.3f} {:>12.3f} {:>7.1f}%  {}{}\n", to_string(h.row.kind),
               to_string(h.row.dtype), shape_text(h.row.shape), h.row.time_us, h.predicted_us,
               100.0 * h.error(), to_string(h.source), traits.empty() ? "" : " (" + traits + ")");
  }
  fmt::print("interpolated from tables: {} rows, MAPE {:.2f}%, max error {:.2f}%\n", r.covered(),
             100.0 * r.mape_covered(), 100.0 * r.max_error_covered());
  fmt::print(
      "all held-out rows (outside the measured range -> roofline fallback): {} rows, MAPE "
      "{:.2f}%, max error {:.2f}%\n",
      r.rows.size(), 100.0 * r.mape_all(), 100.0 * r.max_error_all());
}

void print_seeds(const calibration::HoldoutSummary& s) {
  fmt::print("held-out MAPE over {} seeds ({}..{}):\n", s.reports.size(), s.first_seed,
             s.first_seed + s.reports.size() - 1);
  fmt::print("{:>6} {:>14} {:>14} {:>10}\n", "seed", "interpolated", "all held out", "rows");
  for (std::size_t i = 0; i < s.reports.size(); ++i) {
    const auto& r = s.reports[i];
    fmt::print("{:>6} {:>13.2f}% {:>13.2f}% {:>10}\n", s.first_seed + i, 100.0 * r.mape_covered(),
               100.0 * r.mape_all(), r.rows.size());
  }
  const auto c = s.mape_covered();
  const auto a = s.mape_all();
  fmt::print("interpolated from tables: MAPE {:.2f}% +- {:.2f}% (mean +- sd over seeds)\n",
             100.0 * c.mean, 100.0 * c.sd);
  fmt::print("all held-out rows: MAPE {:.2f}% +- {:.2f}% (mean +- sd over seeds)\n", 100.0 * a.mean,
             100.0 * a.sd);
}

void fit_gpu(const std::vector<calibration::MeasurementSet>& sets, const CalibrateOptions& o) {
  compute::GpuSpec gpu = io::load_gpu_spec(o.gpu);
  std::vector<calibration::KernelMeasurement> rows;
  for (const auto& s : sets) {
    for (const auto& k : s.kernels) {
      if (k.verified != calibration::Verification::fail) rows.push_back(k);
    }
  }
  const compute::KernelModelFitScope scope = calibrate_fit_scope_of(o.fit_scope);
  const compute::KernelModelFit before = compute::evaluate_kernel_model(gpu, rows, scope);
  const compute::KernelModelFit fit = compute::fit_kernel_model(gpu, rows, scope);
  const auto& k = fit.spec;
  fmt::print(
      "tile model of {} over {} {}GEMM rows: spec MAPE {:.2f}% (max {:.1f}%) -> fitted {:.2f}% "
      "(max {:.1f}%): mma_efficiency {:.2f}, tile_overhead_us {:.1f}, tile_128x128 {:.2f}, "
      "tile_64x128 {:.2f}, launch_us {:.1f}{}\n",
      gpu.name, fit.rows, scope == compute::KernelModelFitScope::fp32_mma_efficiency ? "fp32 " : "",
      100.0 * before.mape, 100.0 * before.max_error, 100.0 * fit.mape, 100.0 * fit.max_error,
      k.mma_efficiency, k.tile_overhead_us, k.tile_128x128_efficiency, k.tile_64x128_efficiency,
      k.launch_us,
      k.fp32_mma_efficiency ? fmt::format(", fp32_mma_efficiency {:.2f}", *k.fp32_mma_efficiency)
                            : std::string());
  if (!o.gpu_out.empty()) {
    std::string files;
    for (const auto& s : sets) files += (files.empty() ? "" : ", ") + s.provenance.file;
    gpu.kernel_model = fit.spec;
    gpu.kernel_model.source += fmt::format(" (measurements: {})", files);
    io::write_file_atomically(o.gpu_out, io::gpu_spec_to_json(gpu).dump(1) + "\n");
  }
}

void run_calibrate(const CalibrateOptions& o) {
  if (!o.gpu_out.empty() && o.gpu.empty()) {
    throw input_error("", "--gpu-out", "needs --gpu: the spec whose tile model is fitted",
                      o.gpu_out, "--gpu NAME --gpu-out FILE");
  }
  if (o.fit_scope != "all" && o.gpu.empty()) {
    throw input_error("", "--fit-scope", "needs --gpu: the spec whose tile model is fitted",
                      o.fit_scope, "--gpu NAME --fit-scope mma");
  }
  if (!o.check && o.output.empty() && o.gpu_out.empty()) {
    throw input_error("", "-o", "missing output file", {},
                      "-o profile.json, --gpu-out spec.json, or --check");
  }
  io::check_output_path(o.output, "-o", o.inputs);
  io::check_output_path(o.gpu_out, "--gpu-out", o.inputs);
  std::vector<calibration::MeasurementSet> sets;
  for (const std::string& path : o.inputs) sets.push_back(io::load_any_measurements(path));
  if (o.check) {
    const auto summary = calibration::check_holdout_seeds(sets, o.holdout, o.seed, o.seeds);
    const auto& report = summary.reports.front();
    if (report.rows.empty()) {
      throw input_error("", "MEASUREMENTS", "no kernel rows to hold out",
                        fmt::format("{} rows", report.fitted_rows),
                        "kernel measurements (at least a few)");
    }
    print_check(report, o);
    print_seeds(summary);
  }
  if (!o.gpu.empty()) fit_gpu(sets, o);
  const calibration::CalibrationProfile profile = calibration::fit_profile(sets);
  if (!o.check) print_profile(profile);
  if (!o.output.empty()) {
    // Never write a profile moesim would refuse to load: read it back through the loader first.
    const nlohmann::json json = io::profile_to_json(profile);
    try {
      (void)io::profile_from_json(json, o.output);
    } catch (const InputError& e) {
      throw input_error("", "MEASUREMENTS",
                        "the profile fitted from these measurements is out of range", e.what(),
                        "measurements with physical times and shapes");
    }
    io::write_file_atomically(o.output, json.dump(2) + "\n");
  }
}

}  // namespace

void register_calibrate_command(CLI::App& root) {
  auto options = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = root.add_subcommand(
      "calibrate",
      "Fit measurement files into a calibration profile for the simulator.\n"
      "MEASUREMENTS are moesim measurement JSON files (bench/kernels, bench/nccl, the overlap\n"
      "benchmark; schema in traces/measured/README.md), nccl-tests text output, or nccl-tests\n"
      "-J JSON output. The profile holds kernel cost tables interpolated by shape (a roofline\n"
      "bound from the data outside the measured range), alpha-beta fits per collective and\n"
      "topology level, and the GEMM slowdown under concurrent communication; every number\n"
      "names the file, GPU and date it came from.\n"
      "--check holds out a fraction of the kernel rows, fits the rest and reports the compute\n"
      "model's error (MAPE, max) on the held-out shapes: every row for --seed, then the MAPE\n"
      "for each of --seeds consecutive seeds and its mean +- sd.\n"
      "Examples:\n"
      "  moesim calibrate traces/measured/h100-published/*.json \\\n"
      "      traces/measured/h100-published/*.txt -o profile.json\n"
      "  moesim calibrate --check traces/measured/h100-published/*.json --holdout 0.2 --seed 1\n"
      "  moesim calibrate traces/measured/h100-published/xla_matmul_sm90_bf16.json --gpu h100 \\\n"
      "      --gpu-out h100-fitted.json     # then: moesim run --gpu h100-fitted.json ...");
  cmd->add_option("MEASUREMENTS", options->inputs, "Measurement files")
      ->required()
      ->check(existing_file());
  cmd->add_option("-o,--output", options->output, "Write the profile JSON here ('-' = stdout)");
  cmd->add_flag("--check", options->check,
                "Report the compute model's error on held-out measured shapes");
  cmd->add_option("--holdout", options->holdout, "Fraction of kernel rows held out by --check")
      ->check(number_in(0.01, 0.99))
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed choosing the held-out rows (the first seed)")
      ->capture_default_str();
  cmd->add_option("--gpu", options->gpu,
                  "Also fit this GPU's tile model (topologies/gpus name or file) to the GEMM rows "
                  "and print it");
  cmd->add_option("--gpu-out", options->gpu_out,
                  "Write the --gpu spec with the fitted tile model here (use it with --gpu FILE)");
  cmd->add_option("--fit-scope", options->fit_scope,
                  "Tile constants --gpu fits: all, mma (mma_efficiency alone, the rest kept "
                  "from the spec; for tables of large square GEMMs), or fp32 "
                  "(fp32_mma_efficiency alone, the CUDA-core rate of FP32 GEMMs, on the fp32 "
                  "rows only)")
      ->check(CLI::IsMember({"all", "mma", "fp32"}))
      ->capture_default_str();
  cmd->add_option("--seeds", options->seeds,
                  "Number of consecutive seeds --check repeats the hold-out over (mean +- sd)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->callback([options]() { run_calibrate(*options); });
}

}  // namespace moesim::app
