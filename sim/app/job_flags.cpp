#include "sim/app/job_flags.hpp"

#include <limits>

#include "sim/app/cli_checks.hpp"

namespace moesim::app {

void add_job_options(CLI::App& cmd, JobOptions& o, JobFlags flags) {
  CLI::Option* model =
      cmd.add_option("--model,-m", o.model, "Model preset (traces/models) or JSON file");
  if (flags.required) model->required();
  cmd.add_option("--set", o.overrides, "Override model fields: key=value[,key=value]");
  cmd.add_option("--topology,-t", o.topology, "Topology preset or JSON file")
      ->capture_default_str();
  cmd.add_option("--nodes", o.nodes,
                 "Replicate a one-node topology over N nodes (rail-optimized NDR fabric)")
      ->check(count_in(1, kMaxClusterNodes));
  cmd.add_option("--network", o.network, "Network model: flow or analytical")
      ->capture_default_str();
  cmd.add_option("--gpu", o.gpu, "GPU spec (topologies/gpus); default: the topology's");
  CLI::Option* parallel = cmd.add_option(
      "--parallel,-p", o.parallel,
      "Layout: dp (inferred if omitted), tp, ep, esp, pp, mb, schedule (gpipe|1f1b), "
      "split (layers|ends: megatron's embedding and loss as a layer each), "
      "first_stage_layers=N / last_stage_layers=M (uneven stages, Megatron-Core's "
      "--decoder-first/last-pipeline-num-layers: the other layers split evenly over the middle "
      "stages; DeepSeek-V3 on pp=16: last_stage_layers=1)");
  if (flags.required) parallel->required();
  cmd.add_option("--order", o.order, "Rank order of tp,dp,pp, innermost first")
      ->capture_default_str();
  cmd.add_option("--expert-order", o.expert_order,
                 "Expert grid order, innermost first: esp,edp,ep (EP across nodes) or esp,ep,edp")
      ->capture_default_str();
  cmd.add_option("--routing", o.routing,
                 "uniform, zipf:S, dirichlet:A, drift:S, or a routing trace (.json/.csv)")
      ->capture_default_str();
  cmd.add_option("--seed", o.seed, "Seed of the routing generators")
      ->check(count_in(0, std::numeric_limits<std::int64_t>::max()))
      ->capture_default_str();
  if (flags.iterations) {
    cmd.add_option("--iterations,-n", o.iterations, "Iterations to simulate (routing differs)")
        ->check(count_in(1, job::kMaxIterations))
        ->capture_default_str();
  }
  cmd.add_option("--calibration", o.calibration,
                 "Calibration profile (moesim calibrate): measured kernel times replace the "
                 "roofline where they cover a shape and the kernel's pass (attention: also its "
                 "causal mask and fusion); collective fits replace the prior of the flow and "
                 "analytical network models. run and compare then print the share of kernel "
                 "time the profile priced and what the fallback priced instead")
      ->check(existing_file());
}

}  // namespace moesim::app
