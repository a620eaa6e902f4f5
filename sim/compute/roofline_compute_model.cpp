#include "sim/compute/roofline_compute_model.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "sim/workload/attention_geometry.hpp"

namespace moesim::compute {

namespace {
double ceil_div(std::int64_t a, std::int64_t b) { return static_cast<double>((a + b - 1) / b); }
}  // namespace

double RooflineComputeModel::sm_share(int held_sms) const {
  const int all = std::max(1, gpu_.sm_count);
  return static_cast<double>(all) / static_cast<double>(std::max(1, all - std::max(0, held_sms)));
}

FlopRate RooflineComputeModel::peak_for(DType dtype) const {
  if (auto p = gpu_.peak(dtype)) return *p;
  if (auto p = gpu_.peak(DType::fp16)) return *p;
  if (auto p = gpu_.peak(DType::fp32)) return *p;
  return FlopRate::from_tflops(gpu_.peak_tflops.begin()->second);
}

double RooflineComputeModel::vector_flops_per_s() const {
  if (auto p = gpu_.peak(DType::fp32)) return p->flops_per_s;
  return peak_for(DType::fp32).flops_per_s;
}

double RooflineComputeModel::tile_model_seconds(const KernelShape& s, double peak, DType dtype,
                                                int held_sms) const {
  const KernelModelSpec& km = gpu_.kernel_model;
  const std::int64_t all = std::max(1, gpu_.sm_count);
  const double per_sm = peak / static_cast<double>(all) * gpu_.mma_efficiency(dtype);
  // SMs held by communication kernels are not there for the GEMM's waves.
  const std::int64_t sms = std::max<std::int64_t>(1, all - std::max(0, held_sms));
  const double hbm = gpu_.hbm().bytes_per_s * km.hbm_efficiency;
  const std::int64_t batch = std::max<std::int64_t>(1, s.batch);
  struct Tile {
    std::int64_t rows, cols;
    double efficiency;
  };
  const std::array<Tile, 3> tiles{Tile{128, 256, 1.0}, Tile{128, 128, km.tile_128x128_efficiency},
                                  Tile{64, 128, km.tile_64x128_efficiency}};
  double best = std::numeric_limits<double>::infinity();
  for (const Tile& tile : tiles) {
    for (std::int64_t split = 1; split <= 8; split *= 2) {
      if (split > 1 && s.k / split < 256) break;
      const double count =
          ceil_div(s.m, tile.rows) * ceil_div(s.n, tile.cols) * static_cast<double>(batch * split);
      const double waves = std::ceil(count / static_cast<double>(sms));
      const double tile_s =
          km.tile_overhead_us * 1e-6 + 2.0 * static_cast<double>(tile.rows * tile.cols) *
                                           (static_cast<double>(s.k) / static_cast<double>(split)) /
                                           (per_sm * tile.efficiency);
      double t = waves * tile_s;
      // Split-K writes fp32 partial tiles and reduces them: 4 bytes written and read per split.
      if (split > 1) t += 4.0 * static_cast<double>(s.m * s.n * batch * split) / hbm;
      best = std::min(best, t);
    }
  }
  return best;
}

double RooflineComputeModel::gemm_compute_seconds(const ComputeTask& task, int held_sms) const {
  const double peak = peak_for(task.dtype).flops_per_s;
  const KernelShape& s = task.shape;
  if (s.m <= 0 || s.n <= 0 || s.k <= 0) {
    return task.flops.count / (peak * gpu_.mma_efficiency(task.dtype)) * sm_share(held_sms);
  }
  const double shape_flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) *
                             static_cast<double>(s.k) *
                             static_cast<double>(std::max<std::int64_t>(1, s.batch));
  // The shape sets the efficiency; the task's flops (the strategy's count of the work) the total.
  const double scale = task.flops.count > 0 ? task.flops.count / shape_flops : 1.0;
  return tile_model_seconds(s, peak, task.dtype, held_sms) * scale;
}

double RooflineComputeModel::gemm_shape_efficiency(const KernelShape& s) const {
  if (s.m <= 0 || s.n <= 0 || s.k <= 0) return gpu_.kernel_model.mma_efficiency;
  const double peak = peak_for(DType::bf16).flops_per_s;
  const double flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) *
                       static_cast<double>(s.k) *
                       static_cast<double>(std::max<std::int64_t>(1, s.batch));
  return flops / (tile_model_seconds(s, peak, DType::bf16, 0) * peak);
}

double RooflineComputeModel::attention_compute_seconds(const ComputeTask& task) const {
  const KernelModelSpec& km = gpu_.kernel_model;
  const AttentionRateTable* table =
      task.op.fused ? km.attention_rates.get() : km.unfused_attention_rates.get();
  if (table == nullptr || !table->covers(task.dtype) || task.shape.k <= 0) {
    return task.flops.count / (peak_for(task.dtype).flops_per_s * params_.attention_efficiency);
  }
  const AttentionPass pass =
      task.op.direction == OpDirection::backward ? AttentionPass::backward : AttentionPass::forward;
  // A causal kernel's rate is the published one at the sequence it runs over (the table knows
  // whether it skips the masked tiles); a kernel without the mask that computes every key of its
  // rows runs like the non-causal kernel whose rows are that long (a whole sequence, or a
  // sliding window's tiles).
  const std::int64_t seq =
      std::max<std::int64_t>(1, attention_geometry(task.shape, task.op).sequence);
  return task.flops.count / table->catalogue_flops_per_s(pass, task.shape.k, task.op.causal, seq);
}

SimTime RooflineComputeModel::duration(const ComputeTask& task,
                                       const ComputeContext& context) const {
  const KernelModelSpec& km = gpu_.kernel_model;
  const int held = context.sm_holding_ops > 0 ? context.held_sms : 0;
  double compute_s = 0;
  switch (task.kind) {
    case KernelKind::gemm:
      compute_s = gemm_compute_seconds(task, held);
      break;
    case KernelKind::attention:
      compute_s = attention_compute_seconds(task) * sm_share(held);
      break;
    default:
      compute_s = task.flops.count / vector_flops_per_s() * sm_share(held);
      break;
  }
  const double memory_s = task.bytes.as_double() / (gpu_.hbm().bytes_per_s * km.hbm_efficiency);
  SimTime t = SimTime::from_seconds(std::max(compute_s, memory_s)) + SimTime::from_us(km.launch_us);
  // NCCL's kernels beside it (SMs and HBM taken, not held by count): the measured mean slowdown
  // for compute-bound kinds, the HBM share for the others.
  if (context.concurrent_comm_ops > context.sm_holding_ops) {
    t = t.scaled(compute_bound(task.kind) ? params_.overlap_slowdown
                                          : params_.memory_bound_overlap_slowdown);
  }
  return t;
}

}  // namespace moesim::compute
