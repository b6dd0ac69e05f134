// libFuzzer target for Weft's own safetensors reader (ir/safetensors.cpp), `make fuzz`.
//
// Properties on every input: parse_safetensors returns a file or throws weft::Error (nothing else
// escapes; ASan/UBSan see every access); a file that parses serializes to bytes that parse back to
// the same tensors and metadata.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "ir/error.h"
#include "ir/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  weft::SafetensorsFile file;
  try {
    file = weft::parse_safetensors(bytes, "fuzz.safetensors");
  } catch (const weft::Error&) {
    return 0;
  }
  std::vector<std::byte> again = weft::serialize_safetensors(file);
  weft::SafetensorsFile back;
  try {
    back = weft::parse_safetensors(again, "reserialized.safetensors");
  } catch (const weft::Error& e) {
    std::fprintf(stderr, "a serialized file does not parse: %s\n", e.what());
    std::abort();
  }
  bool same = back.metadata == file.metadata && back.tensors.size() == file.tensors.size();
  for (size_t i = 0; same && i < file.tensors.size(); ++i)
    same = back.tensors[i].name == file.tensors[i].name && back.tensors[i].dtype == file.tensors[i].dtype &&
           back.tensors[i].shape == file.tensors[i].shape && back.tensors[i].data == file.tensors[i].data;
  if (!same) {
    std::fprintf(stderr, "serialize then parse changed the file\n");
    std::abort();
  }
  return 0;
}
