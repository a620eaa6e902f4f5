// RooflineComputeModel: roofline bounds, shape efficiency, contention, and GPU spec files.
#include "sim/compute/roofline_compute_model.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "sim/core/errors.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/topology_json.hpp"
#include "tests/testdata.hpp"

namespace moesim::compute {
namespace {

GpuSpec h100() { return io::load_gpu_spec("h100"); }

ComputeTask gemm(std::int64_t m, std::int64_t n, std::int64_t k) {
  ComputeTask t;
  t.kind = KernelKind::gemm;
  t.shape = {m, n, k, 1};
  t.flops = Flops{2.0 * m * n * k};
  t.bytes = Bytes{2 * (m * k + k * n + m * n)};
  return t;
}

TEST(Roofline, LargeGemmRunsNearMamf) {
  // 8192^3 bf16 = 1.0995e12 flops: 2048 tiles of 128x256 in 16 waves of 132 SMs, each tile
  // 2.5 us + 2*128*256*8192 / (989e12/132 * 0.86) = 85.8 us -> 1373 us + 3 us launch = 799 TF/s.
  // Not a fitted row: H100 BF16 MAMF (best shape found by brute force) is 794.5 TF/s
  // (stas00/ml-engineering, compute/accelerator/README.md).
  const RooflineComputeModel model(h100());
  const double tflops = 1.0995116e12 / model.duration(gemm(8192, 8192, 8192), {}).seconds() / 1e12;
  EXPECT_NEAR(tflops, 794.5, 0.05 * 794.5);
}

TEST(Roofline, SmallMIsLessEfficientAndMemoryBoundKernelsUseHbm) {
  const RooflineComputeModel model(h100());
  const double big = model.gemm_shape_efficiency({4096, 4096, 4096, 1});
  const double small = model.gemm_shape_efficiency({256, 4096, 4096, 1});
  EXPECT_LT(small, big);
  // The measured H100 row M=256,N=K=4096 runs at 412 TF/s (XLA matmul_interpolator_data.h, sm_90;
  // one of the rows the tile constants were fitted on): 8.59 GFLOP in 20.9 us, launch included.
  const double tflops =
      2.0 * 256 * 4096 * 4096 / model.duration(gemm(256, 4096, 4096), {}).seconds();
  EXPECT_NEAR(tflops / 1e12, 412.0, 0.15 * 412.0);
  ComputeTask copy;
  copy.kind = KernelKind::elementwise;
  copy.bytes = Bytes{2'914'500'000};  // 1 ms at 3350 GB/s * 0.87
  EXPECT_NEAR(model.duration(copy, {}).us(), 1003.0, 1.0);
  // Its flops run on the CUDA cores (67 TF/s fp32), not at the tensor peak: 67 GFLOP take 1 ms.
  ComputeTask act;
  act.kind = KernelKind::elementwise;
  act.flops = Flops{67e9};
  EXPECT_NEAR(model.duration(act, {}).us(), 1003.0, 1.0);
}

TEST(Roofline, OverlapSlowsKernelsBy18_9Percent) {
  const RooflineComputeModel model(h100());
  const ComputeTask t = gemm(4096, 4096, 4096);
  const SimTime alone = model.duration(t, {RankId{0}, 0});
  const SimTime shared = model.duration(t, {RankId{0}, 2});
  EXPECT_NEAR(static_cast<double>(shared.ps()) / static_cast<double>(alone.ps()), 1.189, 1e-6);
}

// Memory-bound kinds beside NCCL pay the HBM-share factor (1.34), GEMMs and attention the
// measured 1.189; SM-holding communication alone adds neither.
TEST(Roofline, MemoryBoundKernelsPayTheirOwnOverlapFactor) {
  const RooflineComputeModel model(h100());
  const auto ratio = [&](const ComputeTask& t, ComputeContext beside) {
    return static_cast<double>(model.duration(t, beside).ps()) /
           static_cast<double>(model.duration(t, {RankId{0}, 0}).ps());
  };
  ComputeTask norm;
  norm.kind = KernelKind::layernorm;
  norm.bytes = Bytes{2'914'500'000};
  EXPECT_NEAR(ratio(norm, {RankId{0}, 1}), 1.34, 1e-6);
  ComputeTask permute = norm;
  permute.kind = KernelKind::permute;
  EXPECT_NEAR(ratio(permute, {RankId{0}, 1}), 1.34, 1e-6);
  ComputeTask attention;
  attention.kind = KernelKind::attention;
  attention.flops = Flops{1e12};
  EXPECT_NEAR(ratio(attention, {RankId{0}, 1}), 1.189, 1e-6);
  EXPECT_NEAR(ratio(gemm(4096, 4096, 4096), {RankId{0}, 1}), 1.189, 1e-6);
  // One SM-holding (DeepEP-style) operation and nothing else: bytes still move at the HBM rate.
  EXPECT_NEAR(ratio(norm, {RankId{0}, 1, 1, 20}), 1.0, 1e-9);
}

TEST(Roofline, Fp8GemmsRunAtTheFp8PeakWithTheirOwnEfficiency) {
  // 8192^3 in FP8 on H100: 2048 tiles of 128x256 in 16 waves, each 2.5 us + 2*128*256*8192 /
  // (1979e12/132 * 0.72) = 52.2 us -> 875 us + 3 us = 1253 TF/s. Held-out row (the constant is
  // fitted on 16384^3): cuBLASLt FP8 8192^3 = 1290.1 TF/s (Azure/AI-benchmarking-guide,
  // Azure_Results/ND_H100_v5_results.md).
  const RooflineComputeModel model(h100());
  ComputeTask t = gemm(8192, 8192, 8192);
  t.dtype = DType::fp8;
  t.bytes = Bytes{8192LL * 8192 * 4};
  const double fp8_tflops = 1.0995116e12 / model.duration(t, {}).seconds() / 1e12;
  EXPECT_NEAR(fp8_tflops, 1290.1, 0.05 * 1290.1);
  ComputeTask b = gemm(8192, 8192, 8192);
  b.dtype = DType::bf16;
  EXPECT_GT(model.duration(b, {}).seconds() / model.duration(t, {}).seconds(), 1.5);
  // A GPU without FP8 tensor cores (A100) runs an FP8 GEMM at its FP16 rate and efficiency.
  const RooflineComputeModel a100(io::load_gpu_spec("a100"));
  ComputeTask h = t;
  h.dtype = DType::fp16;
  h.bytes = t.bytes;
  EXPECT_EQ(a100.duration(t, {}), a100.duration(h, {}));
  // The constant round-trips and is range checked.
  const GpuSpec back = io::gpu_spec_from_json_text(io::gpu_spec_to_json(h100()).dump(), "h.json");
  ASSERT_TRUE(back.kernel_model.fp8_mma_efficiency.has_value());
  EXPECT_DOUBLE_EQ(*back.kernel_model.fp8_mma_efficiency, 0.72);
  try {
    io::gpu_spec_from_json_text(
        R"({"name": "x", "sm_count": 1, "peak_tflops": {"fp8": 1}, "hbm_gbps": 1,
            "kernel_model": {"fp8_mma_efficiency": 1.5, "source": "s"}})",
        "g.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "g.json: /kernel_model/fp8_mma_efficiency: out of range (got 1.5, expected a "
                 "fraction in (0, 1])");
  }
}

TEST(Roofline, Fp32GemmsRunOnTheCudaCoresWithTheirOwnEfficiency) {
  // 8192^3 in FP32 on V100: 2048 tiles of 128x256 in 26 waves of 80 SMs, each tile 2.5 us +
  // 2*128*256*8192 / (15.7e12/80 * 0.92) = 2976 us -> 77.4 ms = 14.2 TF/s. Held-out row (the
  // constant is fitted on sizes 1024, 4096, 10240): torch.mm FP32 8192^3 = 14.38 TF/s
  // (zzc0721/torch-performance-test-data issue 140, traces/reference/gemm/).
  const GpuSpec v100 = io::load_gpu_spec("v100");
  ASSERT_TRUE(v100.kernel_model.fp32_mma_efficiency.has_value());
  const RooflineComputeModel model(v100);
  ComputeTask fp32 = gemm(8192, 8192, 8192);
  fp32.dtype = DType::fp32;
  fp32.bytes = Bytes{8192LL * 8192 * 3 * 4};
  const double fp32_tflops = 1.0995116e12 / model.duration(fp32, {}).seconds() / 1e12;
  EXPECT_NEAR(fp32_tflops, 14.38, 0.05 * 14.38);
  // Unset, FP32 GEMMs fall back to the tensor mma_efficiency (0.72): slower by about 0.92/0.72.
  GpuSpec unset = v100;
  unset.kernel_model.fp32_mma_efficiency.reset();
  const RooflineComputeModel fallback(unset);
  EXPECT_NEAR(fallback.duration(fp32, {}).seconds() / model.duration(fp32, {}).seconds(),
              0.92 / 0.72, 0.01);
  // FP16 GEMMs keep the tensor constant whether or not the FP32 one is set.
  ComputeTask fp16 = gemm(8192, 8192, 8192);
  fp16.dtype = DType::fp16;
  EXPECT_EQ(model.duration(fp16, {}), fallback.duration(fp16, {}));
  EXPECT_DOUBLE_EQ(v100.mma_efficiency(DType::fp16), v100.kernel_model.mma_efficiency);
  // A GPU file without an fp32 peak runs FP32 GEMMs at its fp16 rate and efficiency.
  GpuSpec no_fp32 = v100;
  no_fp32.peak_tflops.erase(DType::fp32);
  const RooflineComputeModel tensor_only(no_fp32);
  fp16.bytes = fp32.bytes;
  EXPECT_EQ(tensor_only.duration(fp32, {}), tensor_only.duration(fp16, {}));
  // The constant round-trips and is range checked.
  const GpuSpec back = io::gpu_spec_from_json_text(io::gpu_spec_to_json(v100).dump(), "v.json");
  ASSERT_TRUE(back.kernel_model.fp32_mma_efficiency.has_value());
  EXPECT_DOUBLE_EQ(*back.kernel_model.fp32_mma_efficiency, 0.92);
  EXPECT_FALSE(io::gpu_spec_from_json_text(io::gpu_spec_to_json(h100()).dump(), "h.json")
                   .kernel_model.fp32_mma_efficiency.has_value());
  try {
    io::gpu_spec_from_json_text(
        R"({"name": "x", "sm_count": 1, "peak_tflops": {"fp32": 1}, "hbm_gbps": 1,
            "kernel_model": {"fp32_mma_efficiency": 1.5, "source": "s"}})",
        "g.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "g.json: /kernel_model/fp32_mma_efficiency: out of range (got 1.5, expected a "
                 "fraction in (0, 1])");
  }
}

TEST(GpuSpecJson, AllSpecsLoadAndBadFilesAreRejected) {
  for (const auto& name : {"v100", "a100", "h100", "h200", "rtx2080ti", "rtx-a6000", "rtx3090"}) {
    EXPECT_NO_THROW(io::load_gpu_spec(name)) << name;
  }
  EXPECT_FALSE(io::load_gpu_spec("v100").peak(DType::bf16).has_value());
  try {
    io::gpu_spec_from_json_text(
        R"({"name": "x", "sm_count": 1, "peak_tflops": {"bf17": 1}, "hbm_gbps": 1})", "g.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "g.json: /peak_tflops/bf17: unknown dtype (got \"bf17\", expected fp32, fp16, "
                 "bf16 or fp8)");
  }
  try {
    io::gpu_spec_from_json_text(
        R"({"name": "x", "sm_count": 1, "peak_tflops": {"bf16": 1}, "hbm_gbps": 0})", "g.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "g.json: /hbm_gbps: out of range (got 0, expected a number in [0.001, 1000000])");
  }
}

}  // namespace
}  // namespace moesim::compute

namespace moesim::compute {

TEST(RooflineComputeModel, GemmTimeNeverDecreasesWithMoreRows) {
  // Expert GEMMs with few tokens: within one 128-row tile a GEMM of m rows can run as the padded
  // 128-row problem, so m = 40 must not cost more than m = 160 (found with Parm's small layers).
  GpuSpec gpu;
  gpu.name = "test";
  gpu.sm_count = 132;
  gpu.peak_tflops[DType::bf16] = 989.0;
  gpu.hbm_gbps = 3350.0;
  const RooflineComputeModel model(gpu);
  SimTime previous = SimTime::zero();
  for (std::int64_t m = 1; m <= 2048; m += 13) {
    ComputeTask t;
    t.kind = KernelKind::gemm;
    t.shape = {m, 14336, 4096, 1};
    t.flops.count = 2.0 * static_cast<double>(m) * 14336.0 * 4096.0;
    t.bytes.count = 2 * (m * 4096 + 4096 * 14336 + m * 14336);
    const SimTime now = model.duration(t, {});
    EXPECT_GE(now, previous) << "m = " << m;
    previous = now;
  }
}

}  // namespace moesim::compute

namespace moesim::compute {

TEST(GpuSpecs, EveryTopologyPresetNamesALoadableGpuSpec) {
  // `moesim run --topology X` takes its GPU from the topology: each preset's gpu_model must be
  // the name of a spec in topologies/gpus/ (a6000-8gpu once said "a6000" for "rtx-a6000").
  int presets = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::source_path("topologies"))) {
    if (entry.path().extension() != ".json") continue;
    const network::Topology topo = io::load_topology(entry.path().string());
    EXPECT_NO_THROW(io::load_gpu_spec(topo.gpu_model())) << entry.path();
    ++presets;
  }
  EXPECT_GE(presets, 9);
}

}  // namespace moesim::compute
