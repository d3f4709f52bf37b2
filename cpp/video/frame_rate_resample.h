// Which frames a video keeps when resampled to another frame rate, exactly as torchvision 0.14's
// VideoClips does it, so clips cut here contain the same frames as torchvision's.
#pragma once

#include <cstdint>
#include <vector>

namespace torchvideo {

// Frame indices into a video of `frameCount` frames at `fps`, resampled to `targetFps`
// (VideoClips.compute_clips_for_video + _resample_video_idx):
//  - step = fps / targetFps an integer: every step-th frame of the whole video (Python's [::step],
//    ceil(frameCount / step) frames);
//  - otherwise floor(arange(total, float32) * step) with total = floor(frameCount * (targetFps / fps)),
//    computed in float32 with LibTorch like torchvision, so the indices are bit-identical.
// targetFps <= 0 means no resampling: 0..frameCount-1.
// Error::range for frameCount < 0 or fps not a positive finite number (when resampling).
std::vector<int64_t> resampleFrameIndices(int64_t frameCount, double fps, double targetFps);

}  // namespace torchvideo
