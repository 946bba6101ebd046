// atomic_file.cc — AtomicFile (include/dgm/io/atomic_file.h): an unnamed
// temporary file (O_TMPFILE), fsync, linkat and rename; the named-temporary
// fallback; stdout, devices, FIFOs and logs written in place.
#include "dgm/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <ostream>
#include <streambuf>
#include <vector>

#include "dgm/error.h"

namespace dgm {
namespace {

// The one rule for outputs: missing folders of the path are created; one that
// cannot be made (its parent is a file, no permission) is an IoError.
void make_parent_dirs(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(parent, ec)) return;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw IoError(path + ": cannot create the folder " + parent.string() + ": " + ec.message());
}

[[noreturn]] void fail(const std::string& path, const char* what, int err) {
  throw IoError(path + ": " + what + ": " + std::strerror(err));
}

std::string folder_of(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

// The file a path finally names: symlinks in the last component are followed
// (relative ones from their own folder), as open() would, so that the link
// survives and its target is what gets replaced.
std::string follow_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops == 40) throw IoError(path + ": cannot write: too many levels of symbolic links (a symlink loop?)");
    char buf[4096];
    const ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
    if (n < 0) fail(path, "cannot follow the symbolic link", errno);
    if (size_t(n) == sizeof buf) throw IoError(path + ": cannot write: symbolic link target too long");
    const std::string to(buf, size_t(n));
    p = !to.empty() && to[0] == '/' ? to : folder_of(p) + "/" + to;
  }
}

// A short name, unlikely to exist, for the moment between link and rename.
std::string temporary_name(const std::string& folder) {
  static uint64_t counter = 0;
  uint64_t x = uint64_t(::getpid()) * 0x9e3779b97f4a7c15ULL ^
               uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^ (++counter << 40);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  char name[16];
  std::snprintf(name, sizeof name, ".dgm-%08x", unsigned(x & 0xffffffffu));
  return (folder == "/" ? "" : folder) + "/" + name;
}

// "cannot create" with a hint when the folder is missing.
[[noreturn]] void cannot_create(const std::string& path, const std::string& folder, int err) {
  if (err == ENOENT) throw IoError(path + ": cannot create: the folder " + folder + " does not exist");
  fail(path, "cannot create", err);
}

bool g_force_named = false;

}  // namespace

namespace detail {
// For tests only (declared there, not in a header): takes the path of a
// filesystem without O_TMPFILE.
void atomic_file_force_named_temporary(bool on) { g_force_named = on; }
}  // namespace detail

struct AtomicFile::Impl : std::streambuf {
  enum class Kind { kStdout, kInPlace, kUnnamed, kNamed };

  std::string path;    // as given, for messages
  std::string target;  // symlinks followed
  std::string folder;  // target's folder
  Kind kind = Kind::kStdout;
  bool live = false;
  int fd = -1;
  std::string temp;  // kNamed: the temporary file's name
  bool existed = false;
  bool done = false;
  std::vector<char> buffer = std::vector<char>(size_t(1) << 16);
  std::ostream os{this};

  Impl() {
    setp(buffer.data(), buffer.data() + buffer.size());
    os.exceptions(std::ios::badbit);
  }

  void raw_write(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail(path, "write error", errno);
      }
      p += w;
      n -= size_t(w);
    }
  }
  void flush_buffer() {
    const size_t n = size_t(pptr() - pbase());
    setp(buffer.data(), buffer.data() + buffer.size());
    if (n) raw_write(buffer.data(), n);
  }
  int_type overflow(int_type c) override {
    flush_buffer();
    if (c != traits_type::eof()) {
      *pptr() = char(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* p, std::streamsize n) override {
    if (size_t(n) <= size_t(epptr() - pptr())) {
      std::memcpy(pptr(), p, size_t(n));
      pbump(int(n));
    } else {
      flush_buffer();
      if (size_t(n) < buffer.size() / 2) return xsputn(p, n);
      raw_write(p, size_t(n));
    }
    return n;
  }
  int sync() override {
    flush_buffer();
    return 0;
  }

  void open_replace() {
    target = follow_links(path);
    folder = folder_of(target);
    struct stat st;
    existed = ::stat(target.c_str(), &st) == 0;
    // A name the filesystem cannot hold fails now, before any byte is
    // written (the unnamed file would only meet it when linked).
    if (!existed && errno == ENAMETOOLONG) fail(path, "cannot create", ENAMETOOLONG);
    if (existed && S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory, expected a file name");
    if (existed && !S_ISREG(st.st_mode)) {  // a device, FIFO or socket: written, never replaced
      kind = Kind::kInPlace;
      fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) fail(path, "cannot open", errno);
      return;
    }
    kind = Kind::kUnnamed;
#ifdef O_TMPFILE
    if (!g_force_named) {
      fd = ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
      // Unsupported here (old kernel: EISDIR; filesystem: EOPNOTSUPP): a named temporary.
      if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) cannot_create(path, folder, errno);
    }
#endif
    if (fd < 0) {
      kind = Kind::kNamed;
      fd = create_named(&temp);
    }
    if (existed) keep_owner_and_mode(fd, st);
  }

  void open_live() {
    target = follow_links(path);
    folder = folder_of(target);
    struct stat st;
    if (::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      throw IoError(path + ": is a directory, expected a file name");
    kind = Kind::kInPlace;
    live = true;
    fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) cannot_create(path, folder, errno);
  }

  // A new ".dgm-XXXXXXXX" in the target's folder, opened for writing.
  int create_named(std::string* name) {
    for (int attempt = 0;; ++attempt) {
      *name = temporary_name(folder);
      const int f = ::open(name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (f >= 0) return f;
      if (errno != EEXIST || attempt == 100) cannot_create(path, folder, errno);
    }
  }

  void keep_owner_and_mode(int f, const struct stat& st) {
    struct stat mine;
    if (::fstat(f, &mine) != 0) return;
    // The owner can only be kept with the privilege to give files away; a
    // failure there is not an error (the file is then ours, as after cp).
    const bool give = mine.st_uid != st.st_uid || mine.st_gid != st.st_gid;
    if (give && ::fchown(f, st.st_uid, st.st_gid) != 0) errno = 0;
    if (::fchmod(f, st.st_mode & 07777) != 0) fail(path, "cannot set the file mode", errno);
  }

  // Gives the unnamed file `fd` the name `name`; false with errno set when the
  // name exists or linking an unnamed file is impossible here.
  bool link_to(const std::string& name) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
    if (errno != ENOENT) return false;
    // No /proc: AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH).
#ifdef AT_EMPTY_PATH
    if (::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH) == 0) return true;
    if (errno == EEXIST) return false;
#endif
    errno = ENOTSUP;
    return false;
  }

  // The unnamed file could not be linked: copy it to a named temporary.
  void copy_to_named() {
    std::string name;
    const int out = create_named(&name);
    struct stat st;
    if (::fstat(fd, &st) == 0) (void)::fchmod(out, st.st_mode & 07777);
    std::vector<char> chunk(size_t(1) << 20);
    off_t off = 0;
    const int in = fd;
    fd = out;
    temp = name;
    kind = Kind::kNamed;
    for (;;) {
      const ssize_t r = ::pread(in, chunk.data(), chunk.size(), off);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        const int err = errno;
        ::close(in);
        fail(path, "cannot copy the temporary file", err);
      }
      if (r == 0) break;
      raw_write(chunk.data(), size_t(r));
      off += r;
    }
    ::close(in);
    if (::fsync(fd) != 0) fail(path, "cannot sync", errno);
  }

  void sync_folder() {
    const int d = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) return;
    (void)::fsync(d);  // durability of the rename; the data itself is already synced
    ::close(d);
  }

  void commit() {
    if (done) throw IoError(path + ": written twice");
    done = true;
    if (kind == Kind::kStdout) {
      std::cout.flush();
      if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) fail("<stdout>", "write error", errno);
      return;
    }
    flush_buffer();
    if (kind == Kind::kInPlace) {
      // fsync means nothing for a device or FIFO (EINVAL); a log is synced.
      if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) fail(path, "cannot sync", errno);
      const int f = fd;
      fd = -1;
      if (::close(f) != 0) fail(path, "write error", errno);
      return;
    }
    if (::fsync(fd) != 0) fail(path, "cannot sync", errno);
    if (kind == Kind::kUnnamed) {
      bool linked = false;
      // Absent target: the link itself puts the file in place, with no temporary name at all.
      if (!existed && ::access(target.c_str(), F_OK) != 0) {
        linked = link_to(target);
        if (!linked && errno != EEXIST && errno != ENOTSUP) fail(path, "cannot put the file in place", errno);
        if (linked) {
          finish();
          return;
        }
      }
      for (int attempt = 0; !linked; ++attempt) {
        temp = temporary_name(folder);
        linked = link_to(temp);
        if (linked) break;
        if (errno == ENOTSUP) break;
        if (errno != EEXIST || attempt == 100) fail(path, "cannot put the file in place", errno);
      }
      if (linked) kind = Kind::kNamed;
      else copy_to_named();
    }
    // kNamed: the temporary name is renamed over the target.
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp.c_str());
      temp.clear();
      fail(path, "cannot move the file into place", err);
    }
    temp.clear();
    finish();
  }

  void finish() {
    sync_folder();
    const int f = fd;
    fd = -1;
    if (::close(f) != 0) fail(path, "write error", errno);
  }

  ~Impl() override {
    if (fd >= 0) ::close(fd);
    if (!temp.empty()) ::unlink(temp.c_str());
  }
};

AtomicFile::AtomicFile(const std::string& path, Mode mode) : impl_(new Impl) {
  if (path.empty()) throw IoError("an empty file name (give a path, or - for stdout)");
  impl_->path = path;
  if (path != "-") make_parent_dirs(path);
  if (path == "-") {
    impl_->kind = Impl::Kind::kStdout;
    impl_->live = mode == Mode::kLive;
  } else if (mode == Mode::kLive) {
    impl_->open_live();
  } else {
    impl_->open_replace();
  }
}

AtomicFile::~AtomicFile() = default;

const std::string& AtomicFile::path() const { return impl_->path; }

void AtomicFile::write(const void* data, size_t n) {
  Impl& m = *impl_;
  if (m.done) throw IoError(m.path + ": written after commit");
  const char* p = static_cast<const char*>(data);
  if (m.kind == Impl::Kind::kStdout) {
    std::cout.write(p, std::streamsize(n));
    if (m.live) std::cout.flush();
    if (!std::cout) fail("<stdout>", "write error", errno);
    return;
  }
  if (m.live) {
    m.flush_buffer();
    m.raw_write(p, n);
    return;
  }
  m.xsputn(p, std::streamsize(n));
}

void AtomicFile::printf(const char* format, ...) {
  char small[512];
  va_list ap;
  va_start(ap, format);
  const int n = std::vsnprintf(small, sizeof small, format, ap);
  va_end(ap);
  if (n < 0) throw IoError(impl_->path + ": cannot format output");
  if (size_t(n) < sizeof small) {
    write(small, size_t(n));
    return;
  }
  std::vector<char> big(size_t(n) + 1);
  va_start(ap, format);
  std::vsnprintf(big.data(), big.size(), format, ap);
  va_end(ap);
  write(big.data(), size_t(n));
}

std::ostream& AtomicFile::stream() {
  if (impl_->kind == Impl::Kind::kStdout) return std::cout;
  return impl_->os;
}

void AtomicFile::commit() { impl_->commit(); }

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& fn) {
  AtomicFile f(path);
  fn(f.stream());
  f.commit();
}

}  // namespace dgm
