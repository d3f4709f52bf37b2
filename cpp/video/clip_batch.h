// Decoding several clips of one video into one network-ready batch.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "cpp/video/preprocess.h"
#include "cpp/video/video_decoder.h"

namespace torchvideo {

// Each clip is a list of frame indices into the video. Every distinct frame is decoded once (clips
// may overlap or repeat), then each clip is preprocessed. Returns float32 (clips, 3, T, crop, crop).
// Error::range for no clips or clips of different lengths.
torch::Tensor decodeClipBatch(VideoDecoder& decoder, const std::vector<std::vector<int64_t>>& clips,
                              const PreprocessOptions& options);

}  // namespace torchvideo
