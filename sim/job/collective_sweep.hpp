// collective_sweep: one collective timed over a list of sizes on a job's cluster, the way a
// framework benchmarks it in place: every group of the kind (all EP groups, all ESP groups of
// pipeline stage 0) runs it at once, so groups that share a NIC share it, and the time is when
// the last one completes (CommunicationModel::estimate_concurrent, the same cost the planners
// and the executor see). Used by the claims that fit a published alpha-beta line.
#pragma once

#include <utility>
#include <vector>

#include "sim/job/job_runner.hpp"
#include "sim/workload/comm_op.hpp"
#include "sim/workload/rank_mapping.hpp"

namespace moesim::job {

/// (bytes, time in us) for each size in `bytes` (nccl-tests size convention, comm_op.hpp), the
/// collective `kind` run by every group of `group` in stage 0 of the job's first iteration.
/// InputError when the job's groups of that kind have fewer than two members.
std::vector<std::pair<double, double>> sweep_collective(const PreparedJob& job, CommKind kind,
                                                        GroupKind group,
                                                        const std::vector<double>& bytes);

/// "tp", "dp", "ep", "esp", "edp" (the claim files' group names); nullopt otherwise.
std::optional<GroupKind> parse_group_kind(std::string_view name);

}  // namespace moesim::job
