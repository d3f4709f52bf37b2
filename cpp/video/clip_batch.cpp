#include "cpp/video/clip_batch.h"

#include <algorithm>
#include <string>

#include "cpp/errors.h"

namespace torchvideo {

torch::Tensor decodeClipBatch(VideoDecoder& decoder, const std::vector<std::vector<int64_t>>& clips,
                              const PreprocessOptions& options) {
  if (clips.empty()) throw Error::range("expected at least one clip");
  const size_t clipLength = clips.front().size();
  if (clipLength == 0) throw Error::range("expected clips of at least one frame");
  std::vector<int64_t> unique;
  for (size_t i = 0; i < clips.size(); ++i) {
    if (clips[i].size() != clipLength) {
      throw Error::range("expected every clip to have " + std::to_string(clipLength) + " frames, clip " +
                         std::to_string(i) + " has " + std::to_string(clips[i].size()));
    }
    unique.insert(unique.end(), clips[i].begin(), clips[i].end());
  }
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  const auto frames = decoder.readFrames(unique);  // (U, H, W, 3)

  std::vector<torch::Tensor> batch;
  batch.reserve(clips.size());
  for (size_t i = 0; i < clips.size(); ++i) {
    std::vector<int64_t> rows;
    rows.reserve(clipLength);
    for (const auto index : clips[i]) {
      rows.push_back(std::lower_bound(unique.begin(), unique.end(), index) - unique.begin());
    }
    auto clipFrames = frames.index_select(0, torch::tensor(rows, torch::kLong));
    PreprocessOptions clipOptions = options;
    // Training draws a different crop and flip per clip, reproducibly when seeded.
    if (options.train && options.hasSeed) clipOptions.seed = options.seed + i;
    batch.push_back(preprocessClip(clipFrames, clipOptions));
  }
  return torch::stack(batch);
}

}  // namespace torchvideo
