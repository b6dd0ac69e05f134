#include "frontend/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <set>
#include <type_traits>
#include <vector>

#include "ir/crc32c.h"

namespace weft::train {

namespace {

constexpr const char* kFormatKey = "weft.format";
constexpr const char* kStepKey = "weft.step";
constexpr const char* kRngOffsetKey = "weft.rng_offset";
constexpr const char* kTensorCrcPrefix = "weft.crc32c.";
constexpr const char* kHeaderCrcKey = "weft.header_crc32c";
constexpr const char* kFormatWithoutChecksums = "weft-checkpoint-1";

std::string crc_text(uint32_t crc) { return fmt::format("{:08x}", crc); }

uint32_t crc_of(std::string_view text, uint32_t crc) {
  return crc32c(std::as_bytes(std::span<const char>(text.data(), text.size())), crc);
}

/// The checksum of what the header says, but for its own entry: every metadata entry (sorted by
/// key), then each tensor's name, dtype and shape in file order, each field ended by a NUL.
uint32_t header_crc(const SafetensorsFile& file) {
  uint32_t crc = 0;
  for (const auto& [key, value] : file.metadata) {
    if (key == kHeaderCrcKey) continue;
    crc = crc_of(key, crc);
    crc = crc_of(std::string_view("\0", 1), crc);
    crc = crc_of(value, crc);
    crc = crc_of(std::string_view("\0", 1), crc);
  }
  for (const TensorBlob& t : file.tensors) {
    crc = crc_of(fmt::format("{}", t.name), crc);
    crc = crc_of(fmt::format("|{}|{}", dtype_name(t.dtype), fmt::join(t.shape, ",")), crc);
    crc = crc_of(std::string_view("\0", 1), crc);
  }
  return crc;
}

/// Every checksum of a format-2 file, checked before anything else is believed.
void check_checksums(const SafetensorsFile& file, const std::string& path) {
  auto header = file.metadata.find(kHeaderCrcKey);
  if (header == file.metadata.end())
    throw Error(fmt::format("checkpoint '{}': format \"{}\" records '{}', but this file has none", path,
                            kCheckpointFormat, kHeaderCrcKey));
  if (header->second != crc_text(header_crc(file)))
    throw Error(fmt::format("checkpoint '{}' is corrupt: its header's CRC-32C is {}, but the file records {} (the "
                            "header was changed after it was written)",
                            path, crc_text(header_crc(file)), header->second));
  for (const TensorBlob& t : file.tensors) {
    auto recorded = file.metadata.find(kTensorCrcPrefix + t.name);
    if (recorded == file.metadata.end())
      throw Error(fmt::format("checkpoint '{}': tensor '{}' has no checksum '{}{}'", path, t.name, kTensorCrcPrefix,
                              t.name));
    std::string got = crc_text(crc32c(t.data));
    if (recorded->second != got)
      throw Error(fmt::format("checkpoint '{}' is corrupt: tensor '{}' has CRC-32C {}, but the checkpoint recorded {} "
                              "(its bytes changed after it was written)",
                              path, t.name, got, recorded->second));
  }
}

template <typename Int>
Int parse_counter(const SafetensorsFile& file, const std::string& path, const char* key) {
  auto it = file.metadata.find(key);
  if (it == file.metadata.end())
    throw Error(fmt::format("checkpoint '{}': a Weft checkpoint records '{}' in its metadata, but this one has none",
                            path, key));
  const std::string& text = it->second;
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool negative = false;
  if constexpr (std::is_signed_v<Int>) negative = value < 0;
  if (ec != std::errc() || end != text.data() + text.size() || negative)
    throw Error(fmt::format("checkpoint '{}': metadata '{}' must be a non-negative integer, but it is \"{}\"", path,
                            key, text));
  return value;
}

/// Whether `blob` has the static type `want`.
bool matches(const TensorBlob& blob, const TensorType& want) {
  if (blob.dtype != want.dtype || blob.shape.size() != want.shape.size()) return false;
  for (size_t d = 0; d < blob.shape.size(); ++d)
    if (!want.shape[d].is_static() || want.shape[d].value() != blob.shape[d]) return false;
  return true;
}

std::string blob_type(const TensorBlob& blob) {
  std::vector<std::string> dims;
  for (int64_t d : blob.shape) dims.push_back(std::to_string(d));
  return fmt::format("{}[{}]", dtype_name(blob.dtype), fmt::join(dims, ", "));
}

}  // namespace

void save_checkpoint(const std::string& path, const Executable& exe, const TrainingState& state,
                     const WriteProgressHook& on_progress) {
  SafetensorsFile file;
  for (const auto& [key, value] : state.metadata)
    if (key.rfind("weft.", 0) == 0)
      throw Error(
          fmt::format("save_checkpoint: metadata keys starting with \"weft.\" are reserved, but '{}' was given", key));
  file.metadata = state.metadata;
  file.metadata[kFormatKey] = kCheckpointFormat;
  file.metadata[kStepKey] = std::to_string(state.step);
  file.metadata[kRngOffsetKey] = std::to_string(state.rng_offset);
  for (const TensorSpec& spec : exe.signature().state) {
    Tensor t = exe.state(spec.name);
    std::span<const std::byte> bytes = t.bytes();
    file.tensors.push_back(TensorBlob{spec.name, t.dtype(), t.shape(), {bytes.begin(), bytes.end()}});
    file.metadata[kTensorCrcPrefix + spec.name] = crc_text(crc32c(bytes));
  }
  file.metadata[kHeaderCrcKey] = crc_text(header_crc(file));
  write_safetensors_atomic(path, file, on_progress);
}

TrainingState load_checkpoint(const std::string& path, Executable& exe) {
  SafetensorsFile file = read_safetensors(path);
  auto format = file.metadata.find(kFormatKey);
  if (format == file.metadata.end())
    throw Error(
        fmt::format("checkpoint '{}': a Weft checkpoint has metadata '{}' = \"{}\", but this safetensors file "
                    "has no '{}' (is it a weights file rather than a checkpoint?)",
                    path, kFormatKey, kCheckpointFormat, kFormatKey));
  if (format->second == kCheckpointFormat)
    check_checksums(file, path);
  else if (format->second != kFormatWithoutChecksums)
    throw Error(
        fmt::format("checkpoint '{}': this version of Weft reads checkpoint formats \"{}\" and \"{}\", but the "
                    "file is \"{}\"",
                    path, kCheckpointFormat, kFormatWithoutChecksums, format->second));

  // Check everything before changing anything, and report every disagreement at once.
  std::vector<std::string> problems;
  std::set<std::string> expected;
  const Signature& sig = exe.signature();
  for (const TensorSpec& spec : sig.state) {
    expected.insert(spec.name);
    const TensorBlob* blob = file.find(spec.name);
    if (!blob)
      problems.push_back(fmt::format("'{}' ({}) is missing", spec.name, spec.type.str()));
    else if (!matches(*blob, spec.type))
      problems.push_back(
          fmt::format("'{}' must be {}, but the file has {}", spec.name, spec.type.str(), blob_type(*blob)));
  }
  for (const TensorBlob& blob : file.tensors)
    if (!expected.count(blob.name))
      problems.push_back(fmt::format("'{}' ({}) is not state of this executable", blob.name, blob_type(blob)));
  if (!problems.empty()) {
    std::string list;
    for (const std::string& p : problems) list += "\n  " + p;
    throw Error(
        fmt::format("checkpoint '{}': a checkpoint must hold exactly the executable's state tensors with their "
                    "types, but {} disagree{}:{}",
                    path, problems.size(), problems.size() == 1 ? "s" : "", list));
  }

  TrainingState state;
  state.step = parse_counter<int64_t>(file, path, kStepKey);
  state.rng_offset = parse_counter<uint64_t>(file, path, kRngOffsetKey);
  for (const auto& [key, value] : file.metadata)
    if (key.rfind("weft.", 0) != 0) state.metadata.emplace(key, value);
  for (const TensorSpec& spec : sig.state) {
    const TensorBlob* blob = file.find(spec.name);
    exe.set_state(spec.name, Tensor::from_bytes(blob->dtype, blob->shape, blob->data));
  }
  return state;
}

}  // namespace weft::train
