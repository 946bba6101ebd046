// sound_fuzz.cc — libFuzzer target "sound": see fuzz_sound in fuzz_targets.h.
// Built with -DDGM_FUZZ=ON (clang); run by scripts/fuzz.sh.
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dgm::fuzz::fuzz_sound(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
