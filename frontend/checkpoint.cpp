#include "frontend/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <set>
#include <type_traits>
#include <vector>

namespace weft::train {

namespace {

constexpr const char* kFormatKey = "weft.format";
constexpr const char* kStepKey = "weft.step";
constexpr const char* kRngOffsetKey = "weft.rng_offset";

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
  }
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
  if (format->second != kCheckpointFormat)
    throw Error(
        fmt::format("checkpoint '{}': this version of Weft reads checkpoint format \"{}\", but the file is "
                    "\"{}\"",
                    path, kCheckpointFormat, format->second));

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
