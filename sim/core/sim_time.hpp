// SimTime: a point or span of simulated time, stored as signed 64-bit integer picoseconds.
//
// Integer time makes every run reproducible bit for bit: adding durations never rounds
// differently on another machine or compiler. Range: +-2^63 ps = +-106 days, far beyond any
// training iteration. Conversions from floating seconds round to the nearest picosecond.
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>

namespace moesim {

class SimTime {
 public:
  constexpr SimTime() = default;

  static constexpr SimTime from_ps(std::int64_t ps) { return SimTime(ps); }
  static constexpr SimTime from_ns(double ns) { return from_seconds(ns * 1e-9); }
  static constexpr SimTime from_us(double us) { return from_seconds(us * 1e-6); }
  static constexpr SimTime from_ms(double ms) { return from_seconds(ms * 1e-3); }
  static constexpr SimTime from_seconds(double s) { return SimTime(round_ps(s * 1e12)); }
  static constexpr SimTime zero() { return SimTime(0); }
  static constexpr SimTime max() { return SimTime(std::numeric_limits<std::int64_t>::max()); }

  constexpr std::int64_t ps() const { return ps_; }
  constexpr double ns() const { return static_cast<double>(ps_) * 1e-3; }
  constexpr double us() const { return static_cast<double>(ps_) * 1e-6; }
  constexpr double ms() const { return static_cast<double>(ps_) * 1e-9; }
  constexpr double seconds() const { return static_cast<double>(ps_) * 1e-12; }

  constexpr auto operator<=>(const SimTime&) const = default;
  constexpr SimTime operator+(SimTime o) const {
    std::int64_t r = 0;
    if (__builtin_add_overflow(ps_, o.ps_, &r)) out_of_range(static_cast<double>(ps_) + o.ps_);
    return SimTime(r);
  }
  constexpr SimTime operator-(SimTime o) const {
    std::int64_t r = 0;
    if (__builtin_sub_overflow(ps_, o.ps_, &r)) out_of_range(static_cast<double>(ps_) - o.ps_);
    return SimTime(r);
  }
  constexpr SimTime& operator+=(SimTime o) { return *this = *this + o; }
  constexpr SimTime& operator-=(SimTime o) { return *this = *this - o; }
  /// Scales a duration (e.g. a contention slowdown); rounds to the nearest picosecond.
  constexpr SimTime scaled(double factor) const {
    return SimTime(round_ps(static_cast<double>(ps_) * factor));
  }

 private:
  constexpr explicit SimTime(std::int64_t ps) : ps_(ps) {}
  /// Rounds to the nearest picosecond. A time outside int64 picoseconds (106 days), infinite or
  /// NaN is a SimulationError (exit 3), never a wrapped or undefined integer: inputs are
  /// range-checked at load so that this stays unreachable for any sane job.
  static constexpr std::int64_t round_ps(double ps) {
    if (!(ps > -kLimitPs && ps < kLimitPs)) out_of_range(ps);
    return static_cast<std::int64_t>(ps >= 0 ? ps + 0.5 : ps - 0.5);
  }
  /// Throws the SimulationError; out of line (sim_time.cpp) so this header stays free of fmt's
  /// compile-time format checks, which nvcc cannot evaluate.
  [[noreturn]] static void out_of_range(double ps);
  static constexpr double kLimitPs = 9.2e18;
  std::int64_t ps_ = 0;
};

}  // namespace moesim
