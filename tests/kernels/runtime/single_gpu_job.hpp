// The single-GPU job the strategy tests of the hardware executor use: two GPT2-S-MoE layers with
// 4 local experts on the h100-1gpu preset, assembled by the job runner as `moesim validate
// --model gpt2-s-moe --set layers=2,experts=4 --topology h100-1gpu --parallel ep=1` does.
#pragma once

#include "sim/job/job_runner.hpp"

namespace moesim::runtime {

inline job::PreparedJob single_gpu_job() {
  job::JobOptions o;
  o.model = "gpt2-s-moe";
  o.overrides = "layers=2,experts=4";
  o.topology = "h100-1gpu";
  o.parallel = "ep=1";
  return job::prepare_job(o);
}

}  // namespace moesim::runtime
