#include "sim/workload/task_graph.hpp"

#include <algorithm>

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
  auto it = name_index_.find(std::string(name));
  if (it != name_index_.end()) return it->second;
  const auto index = static_cast<std::uint32_t>(names_.size());
  names_.emplace_back(name);
  name_index_.emplace(names_.back(), index);
  return index;
}

TaskId TaskGraph::push(std::uint32_t name, RankId rank, StreamId stream, TaskInfo info,
                       TaskBody body) {
  MOESIM_CHECK(stream.index() < stream_names_.size(), "unknown stream {}", stream.value);
  if (rank.value >= rank_count_) rank_count_ = rank.value + 1;
  tasks_.push_back(Task{name, rank, stream, info.phase, info.layer, std::move(body)});
  return TaskId{static_cast<std::uint32_t>(tasks_.size() - 1)};
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
  if (task.op.tokens_per_expert.empty()) return push(intern_name(name), rank, stream, info, task);
  ComputeTask shared = task;
  shared.op.tokens_per_expert = intern_counts(task.op.tokens_per_expert);
  return push(intern_name(name), rank, stream, info, std::move(shared));
}

TaskId TaskGraph::add_delay(std::string_view name, RankId rank, StreamId stream, SimTime duration,
                            TaskInfo info) {
  return push(intern_name(name), rank, stream, info, DelayTask{duration});
}

CommId TaskGraph::add_comm(std::string_view name, CommOp op) {
  for (RankId r : op.ranks) {
    if (r.value >= rank_count_) rank_count_ = r.value + 1;
  }
  comms_.push_back(CommRecord{intern_name(name), std::move(op), {}});
  comms_.back().members.reserve(comms_.back().op.ranks.size());
  return CommId{static_cast<std::uint32_t>(comms_.size() - 1)};
}

TaskId TaskGraph::add_comm_member(CommId comm, RankId rank, StreamId stream, TaskInfo info) {
  MOESIM_CHECK(comm.index() < comms_.size(), "unknown comm {}", comm.value);
  const TaskId id = push(comms_[comm.index()].name, rank, stream, info, CommTask{comm});
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
  if (const auto* c = std::get_if<ComputeTask>(&t.body)) return c->bytes;
  if (const auto* m = std::get_if<CommTask>(&t.body)) return comm(m->comm).op.bytes;
  return {};
}

Flops TaskGraph::flops_of(TaskId id) const {
  if (const auto* c = std::get_if<ComputeTask>(&task(id).body)) return c->flops;
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
