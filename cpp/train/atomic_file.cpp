#include "cpp/train/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cpp/errors.h"

namespace torchvideo {
namespace {

// fsync of a file or a folder by path; false (errno set) when it cannot be opened or synced.
bool syncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  const bool synced = ::fsync(fd) == 0;
  const int savedErrno = errno;
  ::close(fd);
  errno = savedErrno;
  return synced;
}

}  // namespace

void writeFileAtomically(const std::string& path, const char* code,
                         const std::function<void(const std::string& temporaryPath)>& write) {
  const std::filesystem::path target(path);
  const auto folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  // In the target's folder, so the rename never crosses file systems; the pid keeps two processes
  // writing the same target apart.
  const auto temporary =
      (folder / ("." + target.filename().string() + "." + std::to_string(::getpid()) + ".tmp")).string();
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return Error::torchvideo(code, "cannot write '" + path + "': " + what + ": " + reason);
  };
  try {
    write(temporary);
  } catch (...) {
    std::remove(temporary.c_str());
    throw;
  }
  if (!syncPath(temporary, O_RDONLY)) throw fail("fsync of the temporary file failed");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) throw fail("rename failed");
  if (!syncPath(folder.string(), O_RDONLY | O_DIRECTORY)) {
    throw Error::torchvideo(code, "cannot write '" + path + "': fsync of its folder failed: " + std::strerror(errno));
  }
}

}  // namespace torchvideo
