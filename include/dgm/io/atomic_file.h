// atomic_file.h — the one way dgm writes a file (model files, checkpoints,
// datasets, samples, images, contact sheets, ARPA, training logs). A reader of
// the target sees the old content or the complete new one, never a part, and
// an interrupted or failed write leaves nothing behind:
//
//   AtomicFile f("model.dgm");  // IoError naming the path if it cannot be created
//   f.write(bytes);             // or f.stream() << ...; or f.printf(...)
//   f.commit();                 // synced and in place; without commit() the target is untouched
//
// How (Linux): the bytes go to an unnamed file in the target's folder
// (open(O_TMPFILE)), are fsync'ed, and only then get a name: linkat() straight
// to the target when it does not exist, else to a short temporary name
// ".dgm-XXXXXXXX" renamed over it at once; then the folder is fsync'ed. A
// kill -9 at any moment leaves the old file and, but for the microseconds
// between linkat and rename, no temporary name. Where the filesystem has no
// O_TMPFILE (or /proc is not mounted) the bytes go to ".dgm-XXXXXXXX" from the
// start; then, and only then, a kill -9 during the write leaves that file.
//
// Targets:
// - "-" is stdout (written through std::cout; commit() flushes and checks it);
// - a device, FIFO or socket (/dev/null, /dev/full, a pipe) is written in place;
// - a symlink is followed (through every link, relative to its folder) and its
//   final target replaced; the link stays a link;
// - an existing file keeps its permission bits (and owner, where allowed); a new
//   file gets 0666 minus the umask;
// - missing folders of the path are created (the rule for every output);
// - a directory, a folder that cannot be made, a symlink loop and an empty name are IoErrors.
// Every error is an IoError "<path>: <what failed>: <reason>". Not thread-safe:
// one writer per object.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace dgm {

class AtomicFile {
 public:
  enum class Mode {
    kReplace,  // all or nothing (the default)
    kLive,     // a log: the target is truncated and written in place as it goes,
               // each write() one write(2), so that it can be followed while it grows
  };
  explicit AtomicFile(const std::string& path, Mode mode = Mode::kReplace);
  ~AtomicFile();  // without commit(): discarded (the target is not touched)
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes. IoError (naming the path) on a write error such as a full disk.
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void printf(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // A buffered stream over the same file; a write error throws the IoError
  // from the stream operation (badbit is in its exceptions()).
  std::ostream& stream();
  // Flushes, syncs and puts the file in place. Call once; afterwards nothing
  // more can be written.
  void commit();

  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-call forms: the bytes, or whatever fn writes to the stream, committed.
void write_file_atomically(const std::string& path, std::string_view bytes);
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& fn);

}  // namespace dgm
