#include "sim/workload/task_graph.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "sim/core/errors.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim {

StreamId TaskGraph::stream(std::string_view name) {
  if (auto found = find_stream(name)) return *found;
  stream_names_.emplace_back(name);
  return StreamId{static_cast<std::uint32_t>(stream_names_.size() - 1)};
}

std::optional<StreamId> TaskGraph::find_stream(std::string_view name) const {
  for (std::size_t i = 0; i < stream_names_.size(); ++i) {
    if (stream_names_[i] == name) return StreamId{static_cast<std::uint32_t>(i)};
  }
  return std::nullopt;
}

std::uint32_t TaskGraph::intern_name(std::string_view name) {
  auto it = name_index_.find(name);
  if (it != name_index_.end()) return it->second;
  const auto index = static_cast<std::uint32_t>(names_.size());
  names_.emplace_back(name);
  name_index_.emplace(names_.back(), index);
  return index;
}

TaskId TaskGraph::push(std::uint32_t name, RankId rank, StreamId stream, TaskInfo info,
                       TaskKind kind, std::uint32_t body) {
  MOESIM_CHECK(stream.index() < stream_names_.size(), "unknown stream {}", stream.value);
  MOESIM_CHECK(tasks_.size() < std::numeric_limits<std::uint32_t>::max(),
               "more than 2^32 - 1 tasks");
  if (rank.value >= rank_count_) rank_count_ = rank.value + 1;
  tasks_.push_back(Task{name, rank, stream, info.layer, info.phase, kind, body});
  if (growth_ != nullptr && tasks_.size() % kGrowthReportTasks == 0) {
    growth_->tasks_added(tasks_.size());
  }
  return TaskId{static_cast<std::uint32_t>(tasks_.size() - 1)};
}

namespace {

constexpr std::uint32_t kEmptySlot = std::numeric_limits<std::uint32_t>::max();

// FNV-1a step over one 64-bit word.
std::uint64_t mix(std::uint64_t hash, std::uint64_t word) {
  hash ^= word;
  return hash * 1099511628211ULL;
}

std::uint64_t bits_of(double x) {
  std::uint64_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Equal kernels hash equally: the counts are interned before, so equal counts share storage and
// their address stands for their values.
std::uint64_t kernel_hash(const ComputeTask& c) {
  std::uint64_t h = 1469598103934665603ULL;
  h = mix(h, static_cast<std::uint64_t>(c.kind) | static_cast<std::uint64_t>(c.dtype) << 8 |
                 static_cast<std::uint64_t>(c.op.gemm_role) << 16 |
                 static_cast<std::uint64_t>(c.op.direction) << 24 |
                 static_cast<std::uint64_t>(c.op.activation) << 32);
  h = mix(h, static_cast<std::uint64_t>(c.shape.m));
  h = mix(h, static_cast<std::uint64_t>(c.shape.n));
  h = mix(h, static_cast<std::uint64_t>(c.shape.k));
  h = mix(h, static_cast<std::uint64_t>(c.shape.batch));
  h = mix(h, bits_of(c.flops.count));
  h = mix(h, static_cast<std::uint64_t>(c.bytes.count));
  h = mix(h,
          static_cast<std::uint64_t>(c.op.top_k) << 32 ^ static_cast<std::uint32_t>(c.op.experts));
  h = mix(h, reinterpret_cast<std::uintptr_t>(c.op.tokens_per_expert.values().data()));
  h = mix(h, static_cast<std::uint64_t>(c.op.capacity));
  h = mix(h, static_cast<std::uint64_t>(c.op.parameters));
  h = mix(h, static_cast<std::uint64_t>(c.op.sequence) << 2 | (c.op.causal ? 1U : 0U) |
                 (c.op.fused ? 2U : 0U));
  return h;
}

}  // namespace

std::uint32_t TaskGraph::intern_kernel(const ComputeTask& task) {
  if ((compute_bodies_.size() + 1) * 2 > kernel_slots_.size()) {
    // Grow to keep the table at most half full; re-place every stored kernel.
    std::vector<std::uint32_t> grown(std::max<std::size_t>(64, kernel_slots_.size() * 2),
                                     kEmptySlot);
    const std::size_t mask = grown.size() - 1;
    for (std::uint32_t i = 0; i < compute_bodies_.size(); ++i) {
      std::size_t slot = kernel_hash(compute_bodies_[i]) & mask;
      while (grown[slot] != kEmptySlot) slot = (slot + 1) & mask;
      grown[slot] = i;
    }
    kernel_slots_ = std::move(grown);
  }
  const std::size_t mask = kernel_slots_.size() - 1;
  std::size_t slot = kernel_hash(task) & mask;
  while (kernel_slots_[slot] != kEmptySlot) {
    if (compute_bodies_[kernel_slots_[slot]] == task) return kernel_slots_[slot];
    slot = (slot + 1) & mask;
  }
  MOESIM_CHECK(compute_bodies_.size() < kEmptySlot, "more than 2^32 - 1 distinct kernels");
  const auto index = static_cast<std::uint32_t>(compute_bodies_.size());
  compute_bodies_.push_back(task);
  kernel_slots_[slot] = index;
  return index;
}

TokenCounts TaskGraph::intern_counts(const TokenCounts& counts) {
  // FNV-1a over the values; equal counts always land in one bucket, and a bucket compares values.
  std::uint64_t hash = 1469598103934665603ULL;
  for (std::int64_t n : counts) {
    hash ^= static_cast<std::uint64_t>(n);
    hash *= 1099511628211ULL;
  }
  std::vector<TokenCounts>& bucket = counts_pool_[hash];
  for (const TokenCounts& stored : bucket) {
    if (stored == counts) return stored;
  }
  bucket.push_back(counts);
  return counts;
}

TaskId TaskGraph::add_compute(std::string_view name, RankId rank, StreamId stream,
                              const ComputeTask& task, TaskInfo info) {
  std::uint32_t kernel = 0;
  if (task.op.tokens_per_expert.empty()) {
    kernel = intern_kernel(task);
  } else {
    ComputeTask shared = task;
    shared.op.tokens_per_expert = intern_counts(task.op.tokens_per_expert);
    kernel = intern_kernel(shared);
  }
  return push(intern_name(name), rank, stream, info, TaskKind::compute, kernel);
}

TaskId TaskGraph::add_delay(std::string_view name, RankId rank, StreamId stream, SimTime duration,
                            TaskInfo info) {
  MOESIM_CHECK(delays_.size() < std::numeric_limits<std::uint32_t>::max(),
               "more than 2^32 - 1 delays");
  delays_.push_back(duration);
  return push(intern_name(name), rank, stream, info, TaskKind::delay,
              static_cast<std::uint32_t>(delays_.size() - 1));
}

CommId TaskGraph::add_comm(std::string_view name, CommOp op) {
  for (RankId r : op.ranks) {
    if (r.value >= rank_count_) rank_count_ = r.value + 1;
  }
  comms_.push_back(CommRecord{intern_name(name), false, std::move(op), {}});
  comms_.back().members.reserve(comms_.back().op.ranks.size());
  return CommId{static_cast<std::uint32_t>(comms_.size() - 1)};
}

TaskId TaskGraph::add_comm_member(CommId comm, RankId rank, StreamId stream, TaskInfo info) {
  MOESIM_CHECK(comm.index() < comms_.size(), "unknown comm {}", comm.value);
  const TaskId id = push(comms_[comm.index()].name, rank, stream, info, TaskKind::comm, comm.value);
  comms_[comm.index()].members.push_back(id);
  return id;
}

std::vector<TaskId> TaskGraph::add_collective(std::string_view name, CommOp op, StreamId stream,
                                              TaskInfo info) {
  const std::vector<RankId> ranks = op.ranks;
  const CommId comm = add_comm(name, std::move(op));
  std::vector<TaskId> members;
  members.reserve(ranks.size());
  for (RankId r : ranks) members.push_back(add_comm_member(comm, r, stream, info));
  return members;
}

void TaskGraph::depend(TaskId before, TaskId after) {
  MOESIM_CHECK(before.index() < tasks_.size() && after.index() < tasks_.size(),
               "dependency on unknown task ({} -> {})", before.value, after.value);
  edges_.emplace_back(before, after);
}

Bytes TaskGraph::bytes_of(TaskId id) const {
  const Task& t = task(id);
  if (const ComputeTask* c = compute_of(t)) return c->bytes;
  if (const auto comm_id = comm_of(t)) return comm(*comm_id).op.bytes;
  return {};
}

Flops TaskGraph::flops_of(TaskId id) const {
  if (const ComputeTask* c = compute_of(id)) return c->flops;
  return {};
}

void TaskGraph::validate() const {
  for (std::size_t i = 0; i < comms_.size(); ++i) {
    const CommRecord& c = comms_[i];
    const std::string where = fmt::format("comm '{}'", names_[c.name]);
    if (c.op.ranks.empty()) throw input_error("", where, "communication has no ranks");
    if (c.members.size() != c.op.ranks.size()) {
      throw input_error("", where, "not every rank of the group has a member task",
                        std::to_string(c.members.size()), std::to_string(c.op.ranks.size()));
    }
    std::vector<std::uint32_t> sorted;
    for (RankId r : c.op.ranks) sorted.push_back(r.value);
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      throw input_error("", where, "a rank appears twice in the group");
    }
    for (std::size_t m = 0; m < c.members.size(); ++m) {
      if (tasks_[c.members[m].index()].rank != c.op.ranks[m]) {
        throw input_error("", where, "member tasks are not in the order of the group's ranks");
      }
    }
    const CollectiveTraits& traits = traits_of(c.op.kind);
    if (traits.size == SizeConvention::matrix) {
      if (!c.op.matrix || c.op.matrix->size() != c.op.ranks.size()) {
        throw input_error("", where, "all_to_all_v needs a byte matrix sized to its group");
      }
    }
    if (traits.two_ranks && c.op.ranks.size() != 2) {
      throw input_error("", where, "send_recv needs exactly 2 ranks",
                        std::to_string(c.op.ranks.size()), "2");
    }
    if (c.op.bytes.count < 0) {
      throw input_error("", where, "negative size", std::to_string(c.op.bytes.count), ">= 0");
    }
  }
}

}  // namespace moesim
