// A video's frame index as a plain JS object and back, so the evaluation's metadata index can cache it
// and later opens of the unchanged file skip demuxing every packet.
#pragma once

#include <napi.h>

#include "cpp/video/frame_index.h"

namespace torchvideo::binding {

// { byTimestamp, frameCount, pts, keyframes, keyframeSeekTs, damagedFrames, firstPacketPos,
//   firstPacketDts (null when unknown), startSeekTs, spanTs }: timestamps in the stream's time base.
Napi::Object frameIndexToJs(Napi::Env env, const FrameIndex& index);

// The inverse; TypeError/RangeError naming the field for a value of the wrong kind, and
// FrameIndex::checkConsistent's RangeError for lists that don't fit together.
FrameIndex frameIndexFromJs(const Napi::Value& value);

}  // namespace torchvideo::binding
