#include "sim/compute/overlap_contention.hpp"

#include <algorithm>
#include <vector>

#include "sim/core/errors.hpp"

namespace moesim::compute {

SimTime rescale_remaining(SimTime remaining, SimTime old_duration, SimTime new_duration) {
  if (remaining == old_duration) return new_duration;
  MOESIM_CHECK(old_duration > SimTime::zero() && remaining >= SimTime::zero() &&
                   new_duration >= SimTime::zero(),
               "rescale {} ps of a {} ps kernel to {} ps", remaining.ps(), old_duration.ps(),
               new_duration.ps());
  // 128-bit product: picosecond times of seconds multiply past 64 bits.
  __extension__ using Wide = unsigned __int128;
  const auto from = static_cast<Wide>(old_duration.ps());
  const Wide scaled =
      (static_cast<Wide>(remaining.ps()) * static_cast<Wide>(new_duration.ps()) + from / 2) / from;
  return SimTime::from_ps(static_cast<std::int64_t>(scaled));
}

SimTime contended_end(SimTime start, SimTime alone, SimTime beside,
                      std::span<const BusyInterval> busy) {
  std::vector<BusyInterval> touching;
  for (const BusyInterval& b : busy) {
    if (b.end > start && b.end > b.start) touching.push_back({std::max(b.start, start), b.end});
  }
  std::sort(touching.begin(), touching.end(),
            [](const BusyInterval& a, const BusyInterval& b) { return a.start < b.start; });
  SimTime duration = alone;
  SimTime end = start + alone;
  std::size_t i = 0;
  while (i < touching.size()) {
    // The union of the overlapping intervals from touching[i]: communication runs throughout.
    const SimTime from = touching[i].start;
    SimTime until = touching[i].end;
    for (++i; i < touching.size() && touching[i].start < until; ++i) {
      until = std::max(until, touching[i].end);
    }
    if (from >= end) break;
    end = from + rescale_remaining(end - from, duration, beside);
    duration = beside;
    if (until >= end) break;
    end = until + rescale_remaining(end - until, duration, alone);
    duration = alone;
  }
  return end;
}

}  // namespace moesim::compute
