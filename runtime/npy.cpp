/** \file
 * The `.npy` reader checks in the order the bytes come: the preamble (magic, version, header
 * length), the header dict (syntax first, then its three keys), then the data size against what is
 * actually there. Each step relies only on what the previous one checked, and only then is anything
 * allocated or copied. Files are read without loading them twice: the header first, then the data
 * straight into the tensor's storage.
 */
#include "runtime/npy.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/file_io.h"

namespace weft {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kArrayAlign = 64;        // numpy.lib.format.ARRAY_ALIGN
constexpr size_t kGrowthAxisDigits = 21;  // numpy.lib.format.GROWTH_AXIS_MAX_DIGITS
constexpr size_t kMaxRank = 64;           // NumPy 2's NPY_MAXDIMS

struct DescrName {
  const char* descr;
  DType dtype;
};
constexpr DescrName kDescrs[] = {
    {"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16},
    {"<i4", DType::i32}, {"<i8", DType::i64}, {"|b1", DType::boolean},
};

[[noreturn]] void fail(const std::string& what, const std::string& message) {
  throw Error(fmt::format("{}: {}", what, message));
}

/// The NumPy name of a dtype ("<f4"); bf16 has none.
const char* descr_of(DType dtype) {
  for (const auto& d : kDescrs)
    if (d.dtype == dtype) return d.descr;
  return nullptr;
}

/// The version and where the header is, from the first 10 or 12 bytes.
struct Preamble {
  int major = 1;
  size_t header_offset = 0;
  size_t header_bytes = 0;
};

/// How many leading bytes parse_preamble needs (it reports a shorter file itself).
constexpr size_t kMaxPreambleBytes = kMagicBytes + 2 + 4;

uint32_t read_le(std::span<const std::byte> bytes, size_t offset, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= static_cast<uint32_t>(bytes[offset + i]) << (8 * i);
  return v;
}

Preamble parse_preamble(std::span<const std::byte> bytes, const std::string& what) {
  if (bytes.size() < kMagicBytes || std::memcmp(bytes.data(), kMagic, kMagicBytes) != 0)
    fail(what, "not a .npy file: it does not start with the magic string \\x93NUMPY");
  if (bytes.size() < kMagicBytes + 2) fail(what, "truncated .npy file: it ends inside the version bytes");
  Preamble p;
  p.major = static_cast<int>(bytes[6]);
  int minor = static_cast<int>(bytes[7]);
  if (p.major < 1 || p.major > 3 || minor != 0)
    fail(what, fmt::format(".npy format version {}.{} is not supported (Weft reads 1.0, 2.0 and 3.0)", p.major, minor));
  size_t width = p.major == 1 ? 2 : 4;
  if (bytes.size() < kMagicBytes + 2 + width)
    fail(what, fmt::format("truncated .npy file: it ends inside the {}-byte header length", width));
  p.header_offset = kMagicBytes + 2 + width;
  p.header_bytes = read_le(bytes, kMagicBytes + 2, width);
  if (p.header_bytes > kMaxNpyHeaderBytes)
    fail(what,
         fmt::format("the .npy header claims {} bytes, more than the {} allowed", p.header_bytes, kMaxNpyHeaderBytes));
  return p;
}

/// What the header says: the element type, the shape, and where the data starts.
struct Layout {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;
  uint64_t data_bytes = 0;
};

/// A value of the header dict: the only three kinds the format uses.
struct Value {
  enum Kind { kString, kBool, kTuple } kind = kString;
  std::string text;
  bool flag = false;
  std::vector<int64_t> items;
};

/// A strict parser of the one Python literal a .npy header holds: a dict of string keys whose
/// values are strings, True/False or tuples of non-negative integers (Python 2's `3L` allowed).
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  std::vector<std::pair<std::string, Value>> parse_dict() {
    std::vector<std::pair<std::string, Value>> entries;
    skip_space();
    expect('{', "the header to start with '{'");
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      std::string key = parse_string("a quoted key or '}'");
      skip_space();
      expect(':', "':' after the key");
      skip_space();
      Value value = parse_value(key);
      entries.emplace_back(std::move(key), std::move(value));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') syntax("',' or '}' after a value");
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) syntax("nothing but spaces after the closing '}'");
    return entries;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c, const char* wanted) {
    if (peek() != c) syntax(wanted);
    ++pos_;
  }

  [[noreturn]] void syntax(const std::string& wanted) const {
    std::string found = pos_ < text_.size() ? fmt::format("'{}'", printable(text_.substr(pos_, 12))) : "the end";
    fail(what_, fmt::format("malformed .npy header: expected {} at byte {} of the header, but found {} (header: {})",
                            wanted, pos_, found, printable(text_.substr(0, 120))));
  }

  /// The header with control and non-ASCII bytes escaped, for messages.
  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f)
        out += c;
      else
        out += fmt::format("\\x{:02x}", u);
    }
    return out;
  }

  std::string parse_string(const char* wanted) {
    char quote = peek();
    if (quote != '\'' && quote != '"') syntax(wanted);
    size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') syntax("a string without backslash escapes");
      if (text_[pos_] == '\n') syntax(fmt::format("the closing {} of the string", quote));
      ++pos_;
    }
    if (pos_ >= text_.size()) syntax(fmt::format("the closing {} of the string", quote));
    return std::string(text_.substr(start, pos_++ - start));
  }

  Value parse_value(const std::string& key) {
    Value v;
    char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = Value::kString;
      v.text = parse_string("a string");
    } else if (text_.substr(pos_, 4) == "True") {
      v.kind = Value::kBool;
      v.flag = true;
      pos_ += 4;
    } else if (text_.substr(pos_, 5) == "False") {
      v.kind = Value::kBool;
      pos_ += 5;
    } else if (c == '(') {
      v.kind = Value::kTuple;
      v.items = parse_tuple();
    } else if (c == '[' && key == "descr") {
      fail(what_, "structured (record) dtypes are not supported: Weft reads arrays of <f4 <f8 <f2 <i4 <i8 |b1");
    } else {
      syntax(fmt::format("a value for '{}' (a string, True, False or a tuple)", key));
    }
    return v;
  }

  /// `()`, `(3,)`, `(2, 3)`, `(2, 3,)`; `(3)` is the integer 3 in Python, not a tuple.
  std::vector<int64_t> parse_tuple() {
    std::vector<int64_t> items;
    ++pos_;  // '('
    skip_space();
    if (peek() == ')') {
      ++pos_;
      return items;
    }
    bool trailing_comma = false;
    for (;;) {
      skip_space();
      if (peek() == ')' && !items.empty() && trailing_comma) break;
      items.push_back(parse_dim());
      if (items.size() > kMaxRank) fail(what_, fmt::format("the shape has more than {} dims", kMaxRank));
      skip_space();
      trailing_comma = peek() == ',';
      if (trailing_comma) {
        ++pos_;
        continue;
      }
      if (peek() != ')') syntax("',' or ')' in the shape tuple");
      if (items.size() == 1) syntax("',' after the only dim of a one-dim shape, as in (3,)");
      break;
    }
    ++pos_;  // ')'
    return items;
  }

  int64_t parse_dim() {
    if (peek() == '-') fail(what_, "the shape's dims must be non-negative integers, but one is negative");
    if (peek() < '0' || peek() > '9') syntax("a non-negative integer dim");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (__builtin_mul_overflow(v, int64_t{10}, &v) || __builtin_add_overflow(v, int64_t{peek() - '0'}, &v))
        fail(what_, "a dim of the shape does not fit in 64 bits");
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2's long literals
    return v;
  }

  std::string_view text_;
  const std::string& what_;
  size_t pos_ = 0;
};

std::string shape_tuple(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

DType dtype_from_descr(const std::string& descr, const std::string& what) {
  for (const auto& d : kDescrs)
    if (descr == d.descr) return d.dtype;
  std::string supported = "Weft reads <f4 <f8 <f2 <i4 <i8 |b1";
  if (descr.size() == 3 && descr[0] == '>' && descr[2] != '1')
    fail(what, fmt::format("big-endian data ('{}') is not supported ({}); save it little-endian, e.g. "
                           "arr.astype('<{}')",
                           descr, supported, descr.substr(1)));
  if (descr == "|u1" || descr == "<u1" || descr == ">u1")
    fail(what, fmt::format("uint8 data ('{}') is not supported ({}); convert it first, e.g. arr.astype(bool) "
                           "for a mask or arr.astype(np.int32) for values",
                           descr, supported));
  fail(what, fmt::format("dtype '{}' is not supported ({})", descr, supported));
}

Layout parse_layout(std::string_view header, const Preamble& p, const std::string& what) {
  auto entries = HeaderParser(header, what).parse_dict();
  const Value* descr = nullptr;
  const Value* fortran = nullptr;
  const Value* shape = nullptr;
  for (const auto& [key, value] : entries) {
    const Value** slot = key == "descr"           ? &descr
                         : key == "fortran_order" ? &fortran
                         : key == "shape"         ? &shape
                                                  : nullptr;
    if (!slot)
      fail(what, fmt::format("the .npy header has the unknown key '{}' (it must have exactly 'descr', "
                             "'fortran_order' and 'shape')",
                             key));
    if (*slot) fail(what, fmt::format("the .npy header has the key '{}' twice", key));
    *slot = &value;
  }
  for (auto [name, slot] : {std::pair{"descr", descr}, {"fortran_order", fortran}, {"shape", shape}})
    if (!slot) fail(what, fmt::format("the .npy header has no '{}' key", name));
  if (descr->kind != Value::kString) fail(what, "the .npy header's 'descr' must be a string such as '<f4'");
  if (fortran->kind != Value::kBool) fail(what, "the .npy header's 'fortran_order' must be True or False");
  if (shape->kind != Value::kTuple) fail(what, "the .npy header's 'shape' must be a tuple such as (2, 3)");

  Layout layout;
  layout.dtype = dtype_from_descr(descr->text, what);
  if (fortran->flag)
    fail(what,
         "Fortran-order (column-major) arrays are not supported; save a C-order copy, e.g. "
         "np.save(path, np.ascontiguousarray(arr))");
  layout.shape = shape->items;
  uint64_t n = dtype_size(layout.dtype);
  for (int64_t d : layout.shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      fail(what, fmt::format("the shape {} is too large to address", shape_tuple(layout.shape)));
  layout.data_bytes = n;
  layout.data_offset = p.header_offset + p.header_bytes;
  return layout;
}

void check_data_size(const Layout& layout, uint64_t file_bytes, const std::string& what) {
  uint64_t have = file_bytes - layout.data_offset;  // the caller checked the header fits
  if (have != layout.data_bytes)
    fail(what, fmt::format("the .npy header says {} {} ({} bytes of data), but the file has {} bytes after the "
                           "header ({})",
                           descr_of(layout.dtype), shape_tuple(layout.shape), layout.data_bytes, have,
                           have < layout.data_bytes ? "truncated" : "trailing bytes"));
}

/// NumPy stores bools as bytes 0 and 1; anything else is still true there, and must not reach a
/// C++ bool as a value other than 0 or 1.
void normalize_bools(Tensor& t) {
  if (t.dtype() != DType::boolean) return;
  auto* p = static_cast<unsigned char*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] != 0;
}

}  // namespace

namespace {

void check_header_fits(const Preamble& p, uint64_t file_bytes, const std::string& what) {
  if (file_bytes - p.header_offset < p.header_bytes)
    fail(what, fmt::format("truncated .npy file: the header claims {} bytes, but only {} follow the preamble",
                           p.header_bytes, file_bytes - p.header_offset));
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// Reads exactly `n` bytes at the current position; false if the file ends first.
bool read_exact(int fd, void* into, size_t n, const std::string& path) {
  auto* p = static_cast<char*>(into);
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path, fmt::format("cannot read: {}", std::strerror(errno)));
    if (got == 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

/// Everything left in a file whose size is not known up front.
std::vector<std::byte> read_to_end(int fd, const std::string& path) {
  std::vector<std::byte> all;
  constexpr size_t kChunk = 1 << 16;
  for (;;) {
    size_t old = all.size();
    all.resize(old + kChunk);
    ssize_t got = ::read(fd, all.data() + old, kChunk);
    if (got < 0 && errno != EINTR) fail(path, fmt::format("cannot read: {}", std::strerror(errno)));
    all.resize(old + static_cast<size_t>(std::max<ssize_t>(got, 0)));
    if (got == 0) return all;
    if (all.size() > kMaxStreamBytes)
      fail(path,
           fmt::format("cannot read: it is {} that gives more than {} bytes", non_regular_kind(path), kMaxStreamBytes));
  }
}

}  // namespace

Tensor parse_npy(std::span<const std::byte> bytes, const std::string& what) {
  Preamble p = parse_preamble(bytes, what);
  check_header_fits(p, bytes.size(), what);
  Layout layout = parse_layout(as_text(bytes.subspan(p.header_offset, p.header_bytes)), p, what);
  check_data_size(layout, bytes.size(), what);
  Tensor t = Tensor::from_bytes(layout.dtype, layout.shape, bytes.subspan(layout.data_offset));
  normalize_bools(t);
  return t;
}

Tensor read_npy(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, fmt::format("cannot stat: {}", std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) fail(path, "cannot read: it is a directory");
  if (!S_ISREG(st.st_mode)) {  // a pipe, such as bash's <(...): no size to check against up front
    std::vector<std::byte> all = read_to_end(f.fd, path);
    return parse_npy(all, path);
  }
  auto file_bytes = static_cast<uint64_t>(st.st_size);

  std::vector<std::byte> head(std::min<uint64_t>(file_bytes, kMaxPreambleBytes));
  if (!read_exact(f.fd, head.data(), head.size(), path)) fail(path, "the file shrank while it was read");
  Preamble p = parse_preamble(head, path);
  check_header_fits(p, file_bytes, path);
  // The preamble may have been read past (a version 1.0 preamble is 10 bytes, not 12).
  std::vector<std::byte> header(p.header_bytes);
  size_t already = head.size() - p.header_offset;
  size_t from_head = std::min(already, header.size());
  if (from_head > 0) std::memcpy(header.data(), head.data() + p.header_offset, from_head);
  if (!read_exact(f.fd, header.data() + from_head, header.size() - from_head, path))
    fail(path, "the file shrank while it was read");
  Layout layout = parse_layout(as_text(header), p, path);
  check_data_size(layout, file_bytes, path);

  Tensor t = Tensor::zeros(layout.dtype, layout.shape);
  auto* data = static_cast<std::byte*>(t.raw());
  // Data bytes already read with the preamble (only when the header is shorter than 2 bytes).
  size_t extra = already - from_head;
  if (extra > 0) std::memcpy(data, head.data() + p.header_offset + from_head, extra);
  if (!read_exact(f.fd, data + extra, t.nbytes() - extra, path)) fail(path, "the file shrank while it was read");
  normalize_bools(t);
  return t;
}

std::vector<std::byte> serialize_npy(const Tensor& tensor) {
  const char* descr = descr_of(tensor.dtype());
  if (!descr)
    throw Error(fmt::format("cannot write {} as .npy: NumPy has no {} dtype (use safetensors, or cast to f32)",
                            tensor.type_str(), dtype_name(tensor.dtype())));
  // The dict exactly as numpy.lib.format._write_array_header prints it, with its room for the first
  // dim to grow, then padded with spaces and a newline to a multiple of 64 bytes in all.
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_tuple(tensor.shape()));
  if (tensor.rank() > 0) dict.append(kGrowthAxisDigits - std::to_string(tensor.shape()[0]).size(), ' ');
  size_t text_bytes = dict.size() + 1;  // with the newline
  int major = 1;
  size_t width = 2;
  size_t pad = kArrayAlign - (kMagicBytes + 2 + width + text_bytes) % kArrayAlign;
  if (text_bytes + pad > 0xffff) {
    major = 2;
    width = 4;
    pad = kArrayAlign - (kMagicBytes + 2 + width + text_bytes) % kArrayAlign;
  }
  size_t header_bytes = text_bytes + pad;

  std::vector<std::byte> out;
  out.reserve(kMagicBytes + 2 + width + header_bytes + tensor.nbytes());
  auto put = [&](std::string_view s) {
    for (char c : s) out.push_back(static_cast<std::byte>(c));
  };
  put(std::string_view(kMagic, kMagicBytes));
  out.push_back(static_cast<std::byte>(major));
  out.push_back(std::byte{0});
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<std::byte>((header_bytes >> (8 * i)) & 0xff));
  put(dict);
  put(std::string(pad, ' '));
  put("\n");
  std::span<const std::byte> data = tensor.bytes();
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::vector<std::byte> bytes = serialize_npy(tensor);
  if (must_write_through(path)) {  // /dev/null, a FIFO: renaming over it would replace it
    write_through(path, bytes);
    return;
  }
  // A temporary file beside the target, created with the permissions a plain open would give.
  static std::atomic<unsigned> counter{0};
  std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
  Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)};
  if (f.fd < 0) fail(path, fmt::format("cannot write: {}", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      std::remove(tmp.c_str());
      fail(path, fmt::format("cannot write: {}", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  int closed = ::close(f.fd);
  f.fd = -1;
  if (closed != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    fail(path, fmt::format("cannot write: {}", std::strerror(err)));
  }
}

}  // namespace weft
