// fit_kernel_model: the fp32 scope fits the CUDA-core constant of FP32 GEMMs alone, on FP32 rows.
#include "sim/compute/kernel_model_fit.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/gpu_spec_json.hpp"

namespace moesim::compute {
namespace {

/// Square GEMM rows timed by `gpu`'s own model (so a fit must recover its constants exactly).
std::vector<calibration::KernelMeasurement> kernel_fit_rows_of(const GpuSpec& gpu, DType dtype) {
  const RooflineComputeModel model(gpu);
  std::vector<calibration::KernelMeasurement> rows;
  for (const std::int64_t n : {1024, 2048, 4096, 8192}) {
    calibration::KernelMeasurement r;
    r.kind = KernelKind::gemm;
    r.dtype = dtype;
    r.shape = {n, n, n, 1};
    ComputeTask t;
    t.kind = KernelKind::gemm;
    t.dtype = dtype;
    t.shape = r.shape;
    t.flops = Flops{2.0 * static_cast<double>(n * n * n)};
    t.bytes = Bytes{dtype_bytes(dtype) * 3 * n * n};
    r.time_us = model.duration(t, {}).us();
    rows.push_back(r);
  }
  return rows;
}

TEST(KernelModelFit, Fp32ScopeRecoversTheCudaCoreRateFromFp32RowsAlone) {
  GpuSpec truth = io::load_gpu_spec("v100");
  truth.kernel_model.fp32_mma_efficiency = 0.81;
  auto rows = kernel_fit_rows_of(truth, DType::fp32);
  // FP16 rows timed at a different tensor rate: the fp32 scope must ignore them.
  GpuSpec other = truth;
  other.kernel_model.mma_efficiency = 0.60;
  for (const auto& r : kernel_fit_rows_of(other, DType::fp16)) rows.push_back(r);

  GpuSpec start = truth;
  start.kernel_model.fp32_mma_efficiency.reset();
  const KernelModelFit fit =
      fit_kernel_model(start, rows, KernelModelFitScope::fp32_mma_efficiency);
  EXPECT_EQ(fit.rows, 4);
  ASSERT_TRUE(fit.spec.fp32_mma_efficiency.has_value());
  EXPECT_DOUBLE_EQ(*fit.spec.fp32_mma_efficiency, 0.81);
  EXPECT_LT(fit.mape, 1e-9);
  // The tensor constant and the spec's provenance stay; the fit's is appended.
  EXPECT_DOUBLE_EQ(fit.spec.mma_efficiency, truth.kernel_model.mma_efficiency);
  EXPECT_EQ(fit.spec.source.rfind(truth.kernel_model.source, 0), 0u);
  EXPECT_NE(fit.spec.source.find("--fit-scope fp32"), std::string::npos);
  // Before the fit (fp32 at the tensor rate 0.72) the same rows are off.
  EXPECT_GT(evaluate_kernel_model(start, rows, KernelModelFitScope::fp32_mma_efficiency).mape,
            0.05);
}

TEST(KernelModelFit, Fp32ScopeNeedsFp32RowsAndAnFp32Peak) {
  const GpuSpec v100 = io::load_gpu_spec("v100");
  const auto fp16 = kernel_fit_rows_of(v100, DType::fp16);
  EXPECT_THROW(fit_kernel_model(v100, fp16, KernelModelFitScope::fp32_mma_efficiency), InputError);
  GpuSpec no_fp32 = v100;
  no_fp32.peak_tflops.erase(DType::fp32);
  const auto fp32 = kernel_fit_rows_of(v100, DType::fp32);
  try {
    fit_kernel_model(no_fp32, fp32, KernelModelFitScope::fp32_mma_efficiency);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no fp32 peak"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moesim::compute
