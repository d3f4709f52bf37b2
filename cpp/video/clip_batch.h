// Decoding several clips of one video into one network-ready batch.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "cpp/video/preprocess.h"
#include "cpp/video/video_decoder.h"

namespace torchvideo {

struct ClipBatchOutput {
  // The clips' frames as decoded, uint8 (clips, T, H, W, 3), for preprocessing on the device.
  bool raw = false;
  // In page-locked memory, so the host-to-GPU copy is a DMA that runs beside compute. The pinned
  // allocator caches its blocks: the staging memory of one batch is reused by the next.
  bool pinned = false;
};

// Each clip is a list of frame indices into the video. Every distinct frame is decoded once (clips
// may overlap or repeat), then each clip is preprocessed. Returns float32 (clips * crops, 3, T, crop,
// crop), or with `output.raw` the uint8 frames (clips, T, H, W, 3).
// Error::range for no clips or clips of different lengths.
torch::Tensor decodeClipBatch(VideoDecoder& decoder, const std::vector<std::vector<int64_t>>& clips,
                              const PreprocessOptions& options, const ClipBatchOutput& output = {});

}  // namespace torchvideo
