#include "ir/file_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ir/error.h"

namespace weft {

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// Closes a descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string non_regular_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return kind_of(st.st_mode);
}

bool must_write_through(const std::string& path) {
  std::string kind = non_regular_kind(path);
  if (kind == "a directory") throw Error(fmt::format("cannot write '{}': it is a directory", path));
  return !kind.empty();
}

void write_through(const std::string& path, std::span<const std::byte> bytes) {
  Fd f{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
  if (f.fd < 0) throw Error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  int fd = f.fd;
  f.fd = -1;
  if (::close(fd) != 0) throw Error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
}

std::vector<std::byte> read_whole_file(const std::string& path, uint64_t limit) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw Error(fmt::format("cannot read '{}': the file does not exist or is not readable", path));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw Error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  const std::string kind = kind_of(st.st_mode);
  if (kind == "a directory") throw Error(fmt::format("cannot read '{}': it is a directory", path));
  // A regular file's size is a good first guess (it may still change); a stream's is unknown.
  std::vector<std::byte> bytes;
  if (kind.empty()) bytes.reserve(static_cast<size_t>(st.st_size));
  std::byte chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(f.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    if (n == 0) break;
    if (!kind.empty() && bytes.size() + static_cast<size_t>(n) > limit)
      throw Error(
          fmt::format("cannot read '{}': it is {} that gives more than {} bytes; a model, its weights "
                      "and its inputs are read from regular files or streams of at most that size",
                      path, kind, limit));
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  return bytes;
}

}  // namespace weft
