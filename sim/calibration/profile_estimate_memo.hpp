// ProfileEstimateMemo: a calibration profile's estimate of every distinct kernel query, computed
// once (CalibratedComputeModel asks it for every kernel the executor starts or re-rates, and the
// planners for every kernel they price).
//
// Why: a table lookup that misses the measured points interpolates over the table's grid (a
// rate per (n, m) neighbour and k, each allocating), and the simulator asks again for each of a
// graph's tasks and again whenever the communication beside a kernel changes. On DeepSeek-V3
// at 1,024 GPUs (16 layers, dualpipe, README) with the published H100 profile that was 8.5 s of
// an 11.2 s run (2.7 s without the profile), for 2.38 M kernel tasks of a few thousand distinct
// queries.
//
// Entries are kept for the model's lifetime (every iteration of a job): their number is that
// of the distinct shapes, whose m varies with the routing only for the expert GEMMs (Mixtral-8x7B
// on 128 GPUs, zipf:1.2, 40 iterations: peak RSS 33.2 MB with the profile, 33.2 MB without).
//
// The estimate is a function of the query alone (the profile is not changed while a memo
// reads it), so a remembered answer is the one computing it again would give: results are
// identical with and without the memo. Thread-safe: `reproduce` builds and simulates a claim's
// strategies on several threads that share one PreparedJob, hence one model. The profile must
// outlive the memo.
#pragma once

#include <cstddef>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "sim/calibration/calibration_profile.hpp"
#include "sim/calibration/kernel_query.hpp"

namespace moesim::calibration {

class ProfileEstimateMemo {
 public:
  explicit ProfileEstimateMemo(const CalibrationProfile& profile) : profile_(&profile) {}
  ProfileEstimateMemo(const ProfileEstimateMemo&) = delete;
  ProfileEstimateMemo& operator=(const ProfileEstimateMemo&) = delete;

  /// profile.estimate(task), from memory after the first task of an equal query.
  std::optional<KernelEstimate> estimate(const ComputeTask& task) const;

  /// Distinct queries remembered.
  std::size_t size() const;

 private:
  const CalibrationProfile* profile_;
  mutable std::shared_mutex mutex_;
  mutable std::unordered_map<KernelQuery, std::optional<KernelEstimate>, KernelQueryHash> known_;
};

}  // namespace moesim::calibration
