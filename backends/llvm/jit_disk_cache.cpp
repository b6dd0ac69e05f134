#include "backends/llvm/jit_disk_cache.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <link.h>
#include <llvm/Support/BLAKE3.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace weft::llvm_backend {

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'W', 'E', 'F', 'T', 'J', 'I', 'T', '\0'};
constexpr uint32_t kFormat = 2;

/// BLAKE3's 256-bit hash (LLVM's): collision resistant, so an entry whose header holds the hash of
/// the key being looked up is that key's entry, and one whose object hashes to its checksum is the
/// object that was stored. (A non-cryptographic hash could let two modules' keys collide and the
/// wrong code load without a sign.)
using Hash256 = std::array<uint8_t, 32>;

Hash256 hash256(const std::string& bytes) {
  return llvm::BLAKE3::hash<32>(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

/// The header in front of the object: fixed size, native byte order (the cache is per host).
struct Header {
  char magic[8];
  uint32_t format;
  uint32_t reserved;
  Hash256 key;
  uint64_t length;
  Hash256 checksum;
};

fs::path directory_from_environment() {
  if (const char* off = std::getenv("WEFT_JIT_CACHE"); off && (std::string(off) == "off" || std::string(off) == "0"))
    return {};
  if (const char* dir = std::getenv("WEFT_JIT_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "weft" / "jit";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "weft" / "jit";
  return {};
}

std::string hex(const uint8_t* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

/// The NT_GNU_BUILD_ID note of the loaded object whose base address is `base`, or "".
std::string gnu_build_id(const void* base) {
  struct Search {
    const void* base;
    std::string id;
  } search{base, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        bool ours = false;  // the object mapped at `base`
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && ph.p_offset == 0)
            ours = reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr) == s->base;
        }
        if (!ours) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          auto* p = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
          const uint8_t* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const uint8_t* name = p + sizeof(ElfW(Nhdr));
            const uint8_t* desc = name + ((note->n_namesz + 3) & ~3u);
            if (desc + note->n_descsz > end) break;
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
              s->id = hex(desc, note->n_descsz);
              return 1;
            }
            p = desc + ((note->n_descsz + 3) & ~3u);
          }
        }
        return 0;
      },
      &search);
  return search.id;
}

}  // namespace

const std::string& build_identity() {
  static const std::string identity = [] {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<const void*>(&build_identity), &info) == 0 || !info.dli_fbase)
      return std::string("unknown");
    if (std::string id = gnu_build_id(info.dli_fbase); !id.empty()) return "gnu-build-id " + id;
    // No build ID: the file's hash (a rebuilt binary differs in its bytes).
    std::ifstream in(info.dli_fname, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Hash256 h = hash256(bytes);
    return "blake3 " + hex(h.data(), h.size());
  }();
  return identity;
}

JitDiskCache::JitDiskCache(fs::path dir) : dir_(std::move(dir)) {}

JitDiskCache& JitDiskCache::global() {
  static JitDiskCache* cache = new JitDiskCache(directory_from_environment());  // used until exit
  return *cache;
}

fs::path JitDiskCache::path_of(const std::string& key) const {
  // The first 128 bits of the key's hash name the file; the header holds all 256.
  Hash256 h = hash256(key);
  std::string name;
  for (int i = 0; i < 16; ++i) name += fmt::format("{:02x}", h[i]);
  return dir_ / (name + ".o");
}

std::optional<std::string> JitDiskCache::load(const std::string& key) {
  if (!enabled()) return std::nullopt;
  std::ifstream in(path_of(key), std::ios::binary);
  std::lock_guard lock(mutex_);
  if (!in) {
    ++stats_.misses;
    return std::nullopt;
  }
  Header header{};
  std::string object;
  bool ok = static_cast<bool>(in.read(reinterpret_cast<char*>(&header), sizeof header)) &&
            std::memcmp(header.magic, kMagic, sizeof kMagic) == 0 && header.format == kFormat &&
            header.key == hash256(key) && header.length < (uint64_t{1} << 32);
  if (ok) {
    object.resize(header.length);
    ok = static_cast<bool>(in.read(object.data(), static_cast<std::streamsize>(object.size()))) &&
         in.peek() == std::char_traits<char>::eof() && hash256(object) == header.checksum;
  }
  if (!ok) {
    ++stats_.rejected;
    return std::nullopt;
  }
  ++stats_.hits;
  return object;
}

void JitDiskCache::remove_stale_temporaries() {
  // A process killed between writing its temporary file and renaming it leaves the file behind.
  // One an hour old belongs to no live writer (a write takes milliseconds), so it goes.
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code time_ec;
    const auto written = fs::last_write_time(it->path(), time_ec);
    if (name.starts_with("tmp-") && !time_ec && now - written > std::chrono::hours(1)) {
      std::error_code remove_ec;
      fs::remove(it->path(), remove_ec);
    }
  }
}

void JitDiskCache::store(const std::string& key, const std::string& object) {
  if (!enabled()) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  std::call_once(swept_, [this] { remove_stale_temporaries(); });
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.format = kFormat;
  header.key = hash256(key);
  header.length = object.size();
  header.checksum = hash256(object);
  std::string temp = (dir_ / fmt::format("tmp-{}-XXXXXX", ::getpid())).string();
  int fd = ::mkstemp(temp.data());
  if (fd < 0) return;
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof header);
  bytes += object;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool written = ::close(fd) == 0 && done == bytes.size();
  if (!written || ::rename(temp.c_str(), path_of(key).c_str()) != 0) {
    ::unlink(temp.c_str());
    return;
  }
  std::lock_guard lock(mutex_);
  ++stats_.stored;
}

JitDiskCacheStats JitDiskCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace weft::llvm_backend
