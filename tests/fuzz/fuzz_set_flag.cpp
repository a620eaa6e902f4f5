// libFuzzer target: the --set model override parser, applied to a valid model, then validated.
#include <cstddef>
#include <cstdint>

#include "sim/workload/model_spec.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse([&] {
    moesim::ModelSpec m;  // GPT2-S-MoE's sizes, in memory (no file per input)
    m.name = "fuzz";
    m.source = "fuzz";
    m.layers = 12;
    m.hidden = 768;
    m.ffn_hidden = 3072;
    m.expert_ffn_hidden = 3072;
    m.heads = 16;
    m.kv_heads = 16;
    m.seq_len = 512;
    m.micro_batch = 24;
    m.experts = 16;
    m.top_k = 1;
    m.capacity_factor = 1.0;
    moesim::apply_overrides(m, text, "--set");
  });
}
