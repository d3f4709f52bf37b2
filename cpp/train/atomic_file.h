// Files that survive being killed at any instant: a reader finds the old file or the new one, never
// half of either (a temporary file in the same folder, fsync, rename over the target, fsync of the
// folder so the rename itself is durable).
#pragma once

#include <functional>
#include <string>

namespace torchvideo {

// Calls `write` with a temporary path beside `path`, then makes that file `path` atomically.
// Throws TorchVideoError `code` naming `path` when a step fails; the temporary file is removed.
// Exceptions from `write` pass through (after the cleanup).
void writeFileAtomically(const std::string& path, const char* code,
                         const std::function<void(const std::string& temporaryPath)>& write);

}  // namespace torchvideo
