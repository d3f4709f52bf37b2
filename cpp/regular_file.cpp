#include "cpp/regular_file.h"

#include <filesystem>

#include "cpp/errors.h"

namespace torchvideo {

PathKind pathKind(const std::string& path, std::error_code& error) {
  const auto status = std::filesystem::status(path, error);
  if (path.empty() || status.type() == std::filesystem::file_type::not_found) return PathKind::kMissing;
  if (error) return PathKind::kUnreadable;
  if (status.type() == std::filesystem::file_type::directory) return PathKind::kDirectory;
  if (status.type() != std::filesystem::file_type::regular) return PathKind::kOther;
  return PathKind::kRegularFile;
}

void requireRegularFile(const std::string& path, const char* what) {
  std::error_code error;
  switch (pathKind(path, error)) {
    case PathKind::kRegularFile: return;
    case PathKind::kMissing:
    case PathKind::kUnreadable:
      throw Error::torchvideo(codes::kFileNotFound, std::string(what) + " file not found: '" + path + "'");
    case PathKind::kDirectory:
    case PathKind::kOther:
      throw Error::torchvideo(codes::kNotAFile, std::string(what) + " path is not a regular file: '" + path + "'");
  }
}

}  // namespace torchvideo
