// libFuzzer target for the .npy reader (runtime/npy.cpp), `make fuzz`.
//
// Properties on every input: parse_npy returns a tensor or throws weft::Error; a tensor that parses
// serializes to bytes that parse back to the same dtype, shape and bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "ir/error.h"
#include "runtime/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  weft::Tensor t;
  try {
    t = weft::parse_npy(bytes, "fuzz.npy");
  } catch (const weft::Error&) {
    return 0;
  }
  std::vector<std::byte> again = weft::serialize_npy(t);
  weft::Tensor back;
  try {
    back = weft::parse_npy(again, "reserialized.npy");
  } catch (const weft::Error& e) {
    std::fprintf(stderr, "a serialized tensor does not parse: %s\n", e.what());
    std::abort();
  }
  if (back.dtype() != t.dtype() || back.shape() != t.shape() || back.nbytes() != t.nbytes() ||
      (t.nbytes() > 0 && std::memcmp(back.raw(), t.raw(), t.nbytes()) != 0)) {
    std::fprintf(stderr, "serialize then parse changed the tensor\n");
    std::abort();
  }
  return 0;
}
