// libFuzzer target: the size (-b/-e) and rank-list (--ranks) parsers.
#include <cstddef>
#include <cstdint>

#include "sim/app/cli_checks.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse([&] {
    (void)moesim::app::parse_byte_size(text, "-b");
    (void)moesim::app::parse_rank_list(text, 64, "--ranks");
  });
}
