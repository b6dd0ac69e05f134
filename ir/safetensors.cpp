/** \file
 * The safetensors reader validates in three steps, each relying only on what the previous one
 * checked: the framing (header length against the buffer), the JSON header (syntax, then structure,
 * one tensor at a time), and finally the data region as a whole (tensors tile it exactly, with no
 * overlap and no hole). Only then are bytes copied out. The writer serializes first and touches the
 * disk second, through a temporary file and a rename.
 */
#include "ir/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "ir/error.h"
#include "ir/file_io.h"

namespace weft {
namespace {

using Json = nlohmann::ordered_json;  // keeps the header's order, so tensors come back in file order

constexpr int kMaxHeaderNesting = 16;  // a valid header nests 3 deep; this only bounds the work
constexpr size_t kWriteChunkBytes = 64 * 1024;

struct DTypeCode {
  const char* code;
  DType dtype;
};
constexpr DTypeCode kDTypeCodes[] = {
    {"F32", DType::f32}, {"F64", DType::f64}, {"F16", DType::f16},      {"BF16", DType::bf16},
    {"I32", DType::i32}, {"I64", DType::i64}, {"BOOL", DType::boolean},
};

std::optional<DType> dtype_from_code(const std::string& code) {
  for (const auto& c : kDTypeCodes)
    if (code == c.code) return c.dtype;
  return std::nullopt;
}

const char* code_from_dtype(DType t) {
  for (const auto& c : kDTypeCodes)
    if (c.dtype == t) return c.code;
  WEFT_CHECK(false, fmt::format("dtype {} has no safetensors code", dtype_name(t)));
  return "";
}

std::string shape_str(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

/// The byte count of dtype × shape, or nullopt on overflow (the caller has checked dims >= 0).
std::optional<uint64_t> byte_count(DType dtype, const std::vector<int64_t>& shape) {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  return n;
}

/// A header failure: "<file>: <message>".
[[noreturn]] void fail(const std::string& what, const std::string& message) {
  throw Error(fmt::format("{}: {}", what, message));
}

/// A JSON number that is a non-negative integer fitting in u64; nullopt otherwise (negative, 2.5,
/// 2.0 — JSON writers emit integers without a decimal point — a string, ...).
std::optional<uint64_t> as_index(const Json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  return std::nullopt;
}

/// Parses the header text, rejecting duplicate keys (which nlohmann would silently merge) and
/// absurd nesting, and turning every JSON error into a weft::Error.
Json parse_header_json(std::string_view text, const std::string& what) {
  std::vector<std::set<std::string>> open_objects;  // keys seen so far in each open object
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxHeaderNesting)
          fail(what, fmt::format("safetensors header nests deeper than {} levels", kMaxHeaderNesting));
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key: {
        WEFT_CHECK(!open_objects.empty(), "a JSON key outside any object");
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second) {
          if (depth == 1) fail(what, fmt::format("tensor '{}' appears twice in the safetensors header", key));
          fail(what, fmt::format("key '{}' appears twice in one object of the safetensors header", key));
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), on_event);
  } catch (const Json::exception& e) {
    fail(what, fmt::format("safetensors header is not valid JSON: {}", e.what()));
  }
}

/// Where one tensor's bytes lie in the data region, checked against its dtype and shape.
struct Extent {
  uint64_t begin = 0;
  uint64_t end = 0;
  size_t tensor = 0;  // index into SafetensorsFile::tensors
};

Extent parse_tensor_entry(const std::string& name, const Json& entry, uint64_t data_size, TensorBlob& blob,
                          const std::string& what) {
  const std::string where = fmt::format("tensor '{}'", name);
  if (!entry.is_object())
    fail(what, fmt::format("{}: header entry must be a JSON object, not {}", where, entry.type_name()));
  for (const auto& [key, value] : entry.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(what, fmt::format("{}: unexpected key '{}' (an entry has only dtype, shape and data_offsets)", where, key));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) fail(what, fmt::format("{}: missing '{}'", where, key));

  const Json& dtype = entry["dtype"];
  if (!dtype.is_string()) fail(what, fmt::format("{}: dtype must be a string, not {}", where, dtype.type_name()));
  const auto& code = dtype.get_ref<const std::string&>();
  const auto parsed_dtype = dtype_from_code(code);
  if (!parsed_dtype)
    fail(what, fmt::format("{}: unknown dtype '{}' (Weft reads F32, F64, F16, BF16, I32, I64 and BOOL)", where, code));
  blob.dtype = *parsed_dtype;

  const Json& shape = entry["shape"];
  if (!shape.is_array()) fail(what, fmt::format("{}: shape must be an array, not {}", where, shape.type_name()));
  for (const Json& dim : shape) {
    const auto d = as_index(dim);
    if (!d || *d > static_cast<uint64_t>(INT64_MAX))
      fail(what, fmt::format("{}: shape {} has a dim that is not a non-negative integer: {}", where, shape.dump(),
                             dim.dump()));
    blob.shape.push_back(static_cast<int64_t>(*d));
  }
  const auto needed = byte_count(blob.dtype, blob.shape);
  if (!needed)
    fail(what, fmt::format("{}: {}{} has more bytes than fit in 64 bits", where, dtype_name(blob.dtype),
                           shape_str(blob.shape)));

  const Json& offsets = entry["data_offsets"];
  const auto begin = offsets.is_array() && offsets.size() == 2 ? as_index(offsets[0]) : std::nullopt;
  const auto end = offsets.is_array() && offsets.size() == 2 ? as_index(offsets[1]) : std::nullopt;
  if (!begin || !end)
    fail(what,
         fmt::format("{}: data_offsets must be two non-negative integers [begin, end], not {}", where, offsets.dump()));
  if (*begin > *end) fail(what, fmt::format("{}: data_offsets [{}, {}] begin after they end", where, *begin, *end));
  if (*end > data_size)
    fail(what, fmt::format("{}: data_offsets [{}, {}] run past the end of the data region ({} bytes)", where, *begin,
                           *end, data_size));
  if (*end - *begin != *needed)
    fail(what, fmt::format("{}: data_offsets [{}, {}] hold {} bytes but {}{} needs {}", where, *begin, *end,
                           *end - *begin, dtype_name(blob.dtype), shape_str(blob.shape), *needed));
  return Extent{*begin, *end, 0};
}

void parse_metadata(const Json& entry, std::map<std::string, std::string>& metadata, const std::string& what) {
  if (!entry.is_object())
    fail(what, fmt::format("__metadata__ must be a JSON object of strings, not {}", entry.type_name()));
  for (const auto& [key, value] : entry.items()) {
    if (!value.is_string())
      fail(what, fmt::format("__metadata__ '{}' must be a string, not {}", key, value.type_name()));
    metadata[key] = value.get<std::string>();
  }
}

/// The tensors must tile the data region exactly: sorted by offset, each begins where the previous
/// ends, the first at 0 and the last at the end. This is what rules out overlaps and holes.
void check_tiling(std::vector<Extent> extents, const SafetensorsFile& file, uint64_t data_size,
                  const std::string& what) {
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t covered = 0;
  const Extent* previous = nullptr;
  for (const Extent& e : extents) {
    const std::string& name = file.tensors[e.tensor].name;
    if (e.begin < covered)
      fail(what, fmt::format("tensor '{}': data_offsets [{}, {}] overlap tensor '{}' at [{}, {}]", name, e.begin, e.end,
                             file.tensors[previous->tensor].name, previous->begin, previous->end));
    if (e.begin > covered)
      fail(what, fmt::format("bytes [{}, {}) of the data region belong to no tensor (a hole before tensor '{}')",
                             covered, e.begin, name));
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    fail(what,
         fmt::format("bytes [{}, {}) of the data region belong to no tensor (a hole at the end)", covered, data_size));
}

std::string errno_text() { return std::strerror(errno); }

/// Removes the temporary file unless the rename succeeded; closes it if still open.
class TempFile {
 public:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  /// Closes the descriptor, reporting (rather than ignoring) a failure: NFS reports write errors here.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }
  void mark_renamed() { renamed_ = true; }

 private:
  int fd_;
  std::string path_;
  bool renamed_ = false;
};

}  // namespace

const TensorBlob* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& what) {
  if (bytes.size() < 8)
    fail(what, fmt::format("file is {} bytes, too short for the 8-byte safetensors header length", bytes.size()));
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | std::to_integer<uint64_t>(bytes[i]);
  const uint64_t after_prefix = bytes.size() - 8;
  if (header_size > kMaxSafetensorsHeaderBytes)
    fail(what, fmt::format("safetensors header length {} exceeds the limit of {} bytes (the file is {} bytes)",
                           header_size, kMaxSafetensorsHeaderBytes, bytes.size()));
  if (header_size > after_prefix)
    fail(what, fmt::format("safetensors header length {} runs past the end of the file ({} bytes follow the length)",
                           header_size, after_prefix));

  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  const std::string_view header_text(header_begin, header_size);
  // nlohmann skips a UTF-8 byte-order mark and stops at a NUL; the format allows neither (only
  // trailing spaces as padding), and the C runtime's reader rejects both: so does this one.
  if (header_text.starts_with("\xef\xbb\xbf"))
    fail(what, "safetensors header starts with a UTF-8 byte-order mark (the header is plain JSON, without one)");
  if (size_t nul = header_text.find('\0'); nul != std::string_view::npos)
    fail(what, fmt::format("safetensors header holds a NUL byte at byte {} (JSON text has none)", nul));
  const Json header = parse_header_json(header_text, what);
  if (!header.is_object())
    fail(what, fmt::format("safetensors header must be a JSON object, not {}", header.type_name()));

  const std::span<const std::byte> data = bytes.subspan(8 + header_size);
  SafetensorsFile file;
  std::vector<Extent> extents;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      parse_metadata(entry, file.metadata, what);
      continue;
    }
    if (name.empty()) fail(what, "a tensor in the safetensors header has an empty name");
    TensorBlob blob;
    blob.name = name;
    Extent extent = parse_tensor_entry(name, entry, data.size(), blob, what);
    extent.tensor = file.tensors.size();
    extents.push_back(extent);
    file.tensors.push_back(std::move(blob));
  }
  check_tiling(extents, file, data.size(), what);

  for (const Extent& e : extents) {
    const auto slice = data.subspan(e.begin, e.end - e.begin);
    file.tensors[e.tensor].data.assign(slice.begin(), slice.end());
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  // O_NONBLOCK: a FIFO without a writer is refused below instead of waited for.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(fmt::format("{}: cannot open safetensors file: {}", path, errno_text()));
  struct stat st {};
  std::vector<std::byte> bytes;
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = fmt::format("cannot stat: {}", errno_text());
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else {
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        problem = fmt::format("cannot read: {}", errno_text());
        break;
      }
      if (n == 0) break;  // the file shrank while we read it; parse what is there
      done += static_cast<size_t>(n);
    }
    bytes.resize(done);
  }
  ::close(fd);
  if (!problem.empty()) throw Error(fmt::format("{}: {}", path, problem));
  return parse_safetensors(bytes, path);
}

std::vector<std::byte> serialize_safetensors(const SafetensorsFile& file) {
  Json header = Json::object();
  if (!file.metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : file.metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : file.tensors) {
    const std::string where = fmt::format("cannot write safetensors: tensor '{}'", t.name);
    if (t.name.empty()) throw Error("cannot write safetensors: a tensor has an empty name");
    if (t.name == "__metadata__") throw Error(fmt::format("{}: the name is reserved for metadata", where));
    if (!names.insert(t.name).second) throw Error(fmt::format("{}: the name appears twice", where));
    for (int64_t d : t.shape)
      if (d < 0) throw Error(fmt::format("{}: shape {} has a negative dim", where, shape_str(t.shape)));
    const auto needed = byte_count(t.dtype, t.shape);
    if (!needed || *needed != t.data.size())
      throw Error(fmt::format("{}: holds {} bytes but {}{} needs {}", where, t.data.size(), dtype_name(t.dtype),
                              shape_str(t.shape), needed ? fmt::to_string(*needed) : "more than 2^64"));
    header[t.name] = Json{
        {"dtype", code_from_dtype(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {  // e.g. a name that is not valid UTF-8
    throw Error(fmt::format("cannot write safetensors: {}", e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // so the data starts 8-byte aligned

  std::vector<std::byte> out(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  size_t at = 8 + text.size();
  for (const auto& t : file.tensors) {
    if (!t.data.empty()) std::memcpy(out.data() + at, t.data.data(), t.data.size());
    at += t.data.size();
  }
  return out;
}

void write_safetensors_atomic(const std::string& path, const SafetensorsFile& file,
                              const WriteProgressHook& on_progress) {
  const std::vector<std::byte> bytes = serialize_safetensors(file);  // fail before touching the disk
  if (must_write_through(path)) {  // /dev/null, a FIFO: renaming over it would replace it
    write_through(path, bytes);
    return;
  }
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";

  std::string temp_name = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temp_name.data());
  if (fd < 0)
    throw Error(fmt::format("{}: cannot create a temporary file in '{}': {}", path, dir.string(), errno_text()));
  TempFile temp(fd, temp_name);
  ::fchmod(temp.fd(), 0644);  // mkstemp makes it 0600; a weights file is ordinarily readable by others

  size_t written = 0;
  while (written < bytes.size()) {
    const size_t chunk = std::min(kWriteChunkBytes, bytes.size() - written);
    const ssize_t n = ::write(temp.fd(), bytes.data() + written, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("{}: cannot write '{}': {}", path, temp.path(), errno_text()));
    written += static_cast<size_t>(n);
    if (on_progress) on_progress(written);
  }
  if (::fsync(temp.fd()) != 0) throw Error(fmt::format("{}: cannot fsync '{}': {}", path, temp.path(), errno_text()));
  if (!temp.close()) throw Error(fmt::format("{}: cannot close '{}': {}", path, temp.path(), errno_text()));
  if (::rename(temp.path().c_str(), path.c_str()) != 0)
    throw Error(fmt::format("{}: cannot rename '{}' over it: {}", path, temp.path(), errno_text()));
  temp.mark_renamed();

  // Make the rename itself durable. Some file systems cannot fsync a directory (EINVAL); the new
  // file is in place either way, so only a real I/O error is reported.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    const int rc = ::fsync(dir_fd);
    const int err = errno;
    ::close(dir_fd);
    if (rc != 0 && err == EIO)
      throw Error(
          fmt::format("{}: written, but fsync of directory '{}' failed: {}", path, dir.string(), std::strerror(err)));
  }
}

}  // namespace weft
