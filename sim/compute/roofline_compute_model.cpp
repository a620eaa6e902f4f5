#include "sim/compute/roofline_compute_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moesim::compute {

FlopRate RooflineComputeModel::peak_for(DType dtype) const {
  if (auto p = gpu_.peak(dtype)) return *p;
  if (auto p = gpu_.peak(DType::fp16)) return *p;
  if (auto p = gpu_.peak(DType::fp32)) return *p;
  return FlopRate::from_tflops(gpu_.peak_tflops.begin()->second);
}

double RooflineComputeModel::gemm_shape_efficiency(const KernelShape& s) const {
  if (s.m <= 0 || s.n <= 0 || s.k <= 0) return 1.0;
  const auto ceil_div = [](std::int64_t a, std::int64_t b) { return (a + b - 1) / b; };
  const std::int64_t sms = std::max(1, gpu_.sm_count);
  std::int64_t tiles = ceil_div(s.m, 128) * ceil_div(s.n, 256) * std::max<std::int64_t>(1, s.batch);
  if (tiles < sms) {
    const std::int64_t splits = std::clamp<std::int64_t>(s.k / 512, 1, sms / tiles);
    tiles *= splits;
  }
  const std::int64_t waves = ceil_div(tiles, sms);
  const double wave = static_cast<double>(tiles) / static_cast<double>(waves * sms);
  const double m = static_cast<double>(std::min(s.m, s.n));
  return wave * m / (m + params_.small_m_half);
}

double RooflineComputeModel::gemm_compute_seconds(const ComputeTask& task) const {
  const double peak = peak_for(task.dtype).flops_per_s;
  const auto raw = [&](const KernelShape& shape, double flops) {
    return flops / (peak * params_.gemm_efficiency * gemm_shape_efficiency(shape));
  };
  if (task.shape.m <= 0) return raw(task.shape, task.flops.count);
  double best = std::numeric_limits<double>::infinity();
  // A tile-based kernel computes whole 128-row tiles, so m rows cost the work of the padded
  // problem; and it can always run as a larger zero-padded problem, so its time is the lower
  // envelope over m' >= m (next 16 whole-tile sizes, beyond which time only grows). This keeps
  // time monotone in m: without it, m_efficiency and wave quantization would charge 40 rows
  // more than 128, or 3 tile rows more than 4.
  const std::int64_t first_tile_rows = (task.shape.m + 127) / 128;
  for (std::int64_t rows = first_tile_rows; rows < first_tile_rows + 16; ++rows) {
    KernelShape padded = task.shape;
    padded.m = rows * 128;
    const double flops =
        task.flops.count * static_cast<double>(padded.m) / static_cast<double>(task.shape.m);
    best = std::min(best, raw(padded, flops));
  }
  return best;
}

SimTime RooflineComputeModel::duration(const ComputeTask& task,
                                       const ComputeContext& context) const {
  double eff = 1.0;
  switch (task.kind) {
    case KernelKind::gemm:
      eff = params_.gemm_efficiency * gemm_shape_efficiency(task.shape);
      break;
    case KernelKind::attention:
      eff = params_.attention_efficiency;
      break;
    default:
      eff = params_.gemm_efficiency;
      break;
  }
  const double compute_s = task.kind == KernelKind::gemm
                               ? gemm_compute_seconds(task)
                               : task.flops.count / (peak_for(task.dtype).flops_per_s * eff);
  const double memory_s =
      task.bytes.as_double() / (gpu_.hbm().bytes_per_s * params_.hbm_efficiency);
  SimTime t = SimTime::from_seconds(std::max(compute_s, memory_s)) + params_.launch_overhead;
  if (context.concurrent_comm_ops > 0) t = t.scaled(params_.overlap_slowdown);
  return t;
}

}  // namespace moesim::compute
