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
  static constexpr SimTime from_seconds(double s) {
    const double ps = s * 1e12;
    return SimTime(static_cast<std::int64_t>(ps >= 0 ? ps + 0.5 : ps - 0.5));
  }
  static constexpr SimTime zero() { return SimTime(0); }
  static constexpr SimTime max() { return SimTime(std::numeric_limits<std::int64_t>::max()); }

  constexpr std::int64_t ps() const { return ps_; }
  constexpr double ns() const { return static_cast<double>(ps_) * 1e-3; }
  constexpr double us() const { return static_cast<double>(ps_) * 1e-6; }
  constexpr double ms() const { return static_cast<double>(ps_) * 1e-9; }
  constexpr double seconds() const { return static_cast<double>(ps_) * 1e-12; }

  constexpr auto operator<=>(const SimTime&) const = default;
  constexpr SimTime operator+(SimTime o) const { return SimTime(ps_ + o.ps_); }
  constexpr SimTime operator-(SimTime o) const { return SimTime(ps_ - o.ps_); }
  constexpr SimTime& operator+=(SimTime o) {
    ps_ += o.ps_;
    return *this;
  }
  constexpr SimTime& operator-=(SimTime o) {
    ps_ -= o.ps_;
    return *this;
  }
  /// Scales a duration (e.g. a contention slowdown); rounds to the nearest picosecond.
  constexpr SimTime scaled(double factor) const {
    const double ps = static_cast<double>(ps_) * factor;
    return SimTime(static_cast<std::int64_t>(ps >= 0 ? ps + 0.5 : ps - 0.5));
  }

 private:
  constexpr explicit SimTime(std::int64_t ps) : ps_(ps) {}
  std::int64_t ps_ = 0;
};

}  // namespace moesim
