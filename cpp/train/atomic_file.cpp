#include "cpp/train/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "cpp/errors.h"

namespace torchvideo {
namespace {

// How many random names are tried before giving up: a clash of 64 random bits is not expected once,
// so a second EEXIST means someone is planting names.
constexpr int kNameAttempts = 4;

// `.<name>.<16 random hex digits>.tmp` in `folder`: nobody can guess it in advance (a pid can be).
std::string temporaryNameFor(const std::filesystem::path& folder, const std::string& name) {
  std::random_device entropy;
  const uint64_t bits = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(bits));
  return (folder / ("." + name + "." + hex + ".tmp")).string();
}

bool writeAll(int fd, const std::string& bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

// fsync of a folder by path; false (errno set) when it cannot be opened or synced.
bool syncFolder(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool synced = ::fsync(fd) == 0;
  const int savedErrno = errno;
  ::close(fd);
  errno = savedErrno;
  return synced;
}

}  // namespace

void writeFileAtomically(const std::string& path, const char* code,
                         const std::function<void(std::ostream& out)>& write) {
  // The contents are produced before any file exists, so a writer that throws leaves nothing behind.
  std::ostringstream contents;
  write(contents);
  const std::string bytes = std::move(contents).str();

  const std::filesystem::path target(path);
  const auto folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const auto name = target.filename().string();
  auto failure = [&](const std::string& what, int error) {
    return Error::torchvideo(code, "cannot write '" + path + "': " + what + ": " + std::strerror(error));
  };
  // In the target's folder, so the rename never crosses file systems. O_EXCL: an existing file or a
  // symlink at the name fails the open instead of being followed or truncated (O_NOFOLLOW says the same
  // for good measure).
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; attempt < kNameAttempts && fd < 0; ++attempt) {
    temporary = temporaryNameFor(folder, name);
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw failure("cannot create a temporary file beside it", errno);
  auto abandon = [&](const std::string& what) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    std::remove(temporary.c_str());
    return failure(what, error);
  };
  if (!writeAll(fd, bytes)) throw abandon("write failed");
  if (::fsync(fd) != 0) throw abandon("fsync of the temporary file failed");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) throw abandon("close of the temporary file failed");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) throw abandon("rename failed");
  if (!syncFolder(folder.string())) throw failure("fsync of its folder failed", errno);
}

}  // namespace torchvideo
