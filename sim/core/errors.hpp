// The three kinds of failure, told apart by type:
//  - InputError: bad user input (file, flag, config). Says where, what, and what was expected.
//    The CLI prints "error: <what()>" and exits 2.
//  - SimulationError: the model itself cannot go on (deadlock, size outside calibration with no
//    fallback). The CLI exits 3.
//  - MOESIM_CHECK: a broken invariant, i.e. a bug. Prints file:line and aborts, in every build.
//    Never used for input.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace moesim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SimulationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Builds the canonical input-error message:
///   "<file>: <json path>: <what was wrong> (got X, expected Y)".
/// `file` may be empty for command-line input, in which case the flag name goes into `path`.
InputError input_error(std::string_view file, std::string_view path, std::string_view what,
                       std::string_view got = {}, std::string_view expected = {});

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& message);

}  // namespace moesim

#define MOESIM_CHECK(cond, ...)                                                      \
  do {                                                                               \
    if (!(cond)) [[unlikely]] {                                                      \
      ::moesim::check_failed(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__)); \
    }                                                                                \
  } while (false)
