// Overlap contention over a kernel's whole duration: a kernel progresses at rate 1 / D(context),
// D being what the ComputeModel charges for the whole kernel in the context its GPU is in now
// (communication running beside it or not). When the context changes mid-kernel, the work left
// is kept and the time left rescaled: left' = left * D(new) / D(old). The simulated executor
// re-rates its running kernels with rescale_remaining; the planners' list schedules price a
// kernel against the communication intervals of their schedule with contended_end, which applies
// the very same rescaling at each interval boundary, so planner and executor agree to the
// picosecond when they see the same intervals.
#pragma once

#include <span>

#include "sim/core/sim_time.hpp"

namespace moesim::compute {

/// Time left of a kernel whose whole duration changes from `old_duration` to `new_duration`
/// with `remaining` of it still to run at the old rate: remaining * new / old, rounded to the
/// nearest picosecond (exact integer arithmetic; `remaining` == `old_duration` gives exactly
/// `new_duration`).
SimTime rescale_remaining(SimTime remaining, SimTime old_duration, SimTime new_duration);

/// A communication operation running on the kernel's GPU over [start, end).
struct BusyInterval {
  SimTime start;
  SimTime end;
};

/// End of a kernel that starts at `start` and takes `alone` with no communication beside it and
/// `beside` when communication runs all along: at rate 1 / beside while any of `busy` (any
/// order, may overlap) runs, 1 / alone otherwise. Intervals are half-open: one that ends when
/// the kernel starts, or starts when it ends, does not touch it.
SimTime contended_end(SimTime start, SimTime alone, SimTime beside,
                      std::span<const BusyInterval> busy);

}  // namespace moesim::compute
