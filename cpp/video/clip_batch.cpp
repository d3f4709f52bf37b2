#include "cpp/video/clip_batch.h"

#include <algorithm>
#include <string>

#include "cpp/errors.h"
#include "cpp/video/input_limits.h"

namespace torchvideo {

torch::Tensor decodeClipBatch(VideoDecoder& decoder, const std::vector<std::vector<int64_t>>& clips,
                              const PreprocessOptions& options, const ClipBatchOutput& output) {
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

  std::vector<int64_t> rows;
  rows.reserve(clips.size() * clipLength);
  for (const auto& clip : clips) {
    for (const auto index : clip)
      rows.push_back(std::lower_bound(unique.begin(), unique.end(), index) - unique.begin());
  }
  const int64_t count = static_cast<int64_t>(clips.size()), length = static_cast<int64_t>(clipLength);
  checkDecodeBytes(count * length, frames.size(2), frames.size(1), decoder.path());
  const auto order = torch::tensor(rows, torch::kLong);
  const auto pinned = torch::TensorOptions().pinned_memory(output.pinned);
  if (output.raw) {
    auto out = torch::empty({count * length, frames.size(1), frames.size(2), 3}, pinned.dtype(torch::kUInt8));
    torch::index_select_out(out, frames, 0, order);
    return out.view({count, length, frames.size(1), frames.size(2), 3});
  }
  const auto clipFrames = frames.index_select(0, order).view({count, length, frames.size(1), frames.size(2), 3});
  // Explicit training draws select torchvision's training preset; otherwise the evaluation transform.
  auto batch =
      options.trainDraws.empty() ? preprocessClips(clipFrames, options) : preprocessTrainClips(clipFrames, options);
  if (!output.pinned) return batch;
  auto out = torch::empty(batch.sizes(), pinned.dtype(torch::kFloat32));
  out.copy_(batch);
  return out;
}

}  // namespace torchvideo
