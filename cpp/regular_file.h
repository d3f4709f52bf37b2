// Whether a path names a regular file, checked before a library opens it: LibTorch's loader and FFmpeg
// say only "No such file or directory", or fail oddly on a directory, while callers branch on stable
// codes (ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE). One home for the model's, the checkpoint's and the
// video's checks.
#pragma once

#include <string>
#include <system_error>

namespace torchvideo {

// What stands at a path, as the checks tell it apart.
enum class PathKind {
  kRegularFile,
  kMissing,     // an empty path, or nothing there
  kUnreadable,  // its status cannot be read (a folder on the way is not searchable, ...): see `error`
  kDirectory,
  kOther,  // a device, a socket, a FIFO, ...
};

// Follows symbolic links (a dangling one is kMissing); `error` is set for kMissing and kUnreadable.
PathKind pathKind(const std::string& path, std::error_code& error);

// Throws TorchVideoError ERR_FILE_NOT_FOUND "<what> file not found: '<path>'" when nothing is at `path`
// or it cannot be read, ERR_NOT_A_FILE "<what> path is not a regular file: '<path>'" when something
// other than a regular file is.
void requireRegularFile(const std::string& path, const char* what);

}  // namespace torchvideo
