// The message of the InputError `f` throws, or "no error": every bad-input test asserts the
// exact text a user would read.
#pragma once

#include <functional>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim::testing {

inline std::string input_error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace moesim::testing
