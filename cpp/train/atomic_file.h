// Files that survive being killed at any instant: a reader finds the old file or the new one, never
// half of either, and nothing planted in the folder redirects the write. The same rules as the
// TypeScript side (src/common/atomic-file.ts): the bytes go to a new file in the target's folder under a
// random name, created exclusively and without following a symlink (O_CREAT | O_EXCL | O_NOFOLLOW), are
// fsynced, renamed over the target (rename replaces a symlink at the target, never writes through it),
// and the folder is fsynced so the rename itself is durable.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace torchvideo {

// Calls `write` with a stream for the new contents of `path`, then makes them `path` atomically.
// Throws TorchVideoError `code` naming `path` when a step fails; the temporary file is removed and
// `path` is left as it was. Exceptions from `write` pass through (nothing is created then).
void writeFileAtomically(const std::string& path, const char* code,
                         const std::function<void(std::ostream& out)>& write);

}  // namespace torchvideo
