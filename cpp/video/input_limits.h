// Bounds on what an untrusted video may make the decoder do. Videos come from datasets downloaded
// from anywhere: their headers decide how much memory a decode allocates, and their containers can
// point at other files (playlists). These limits are checked before anything is allocated or opened.
#pragma once

#include <cstdint>
#include <string>

namespace torchvideo {

// The containers torchvideo opens: FFmpeg demuxer names, as AVFormatContext::format_whitelist takes
// them. Playlists and indirections (hls, concat, image2 patterns, tee, data URIs) are not among them:
// they make the demuxer open other files or URLs named inside the video.
inline constexpr const char* kAllowedContainers =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,mpeg,ogg,asf,ivf,h264,hevc,m4v,mjpeg,nut";

// Only the local file the caller named: no nested protocols (http, concat:, subfile:, data:, ...).
inline constexpr const char* kAllowedProtocols = "file";

// Largest frame side accepted (16K video is 15360 wide). A header claiming more is refused at open.
inline constexpr int64_t kMaxFrameSide = 16384;

// Largest decoded output of one call (frames x height x width x 3 bytes): 4 GiB, over 1,300 frames of
// 1080p. A request beyond it is refused before the buffer is allocated.
inline constexpr int64_t kMaxDecodeBytes = int64_t{4} << 30;

// kVideoOpen naming the size when a stream claims frames larger than kMaxFrameSide on a side.
void checkFrameSize(int64_t width, int64_t height, const std::string& path);

// kVideoDecode naming the size when `frames` frames of width x height RGB exceed kMaxDecodeBytes.
void checkDecodeBytes(int64_t frames, int64_t width, int64_t height, const std::string& path);

}  // namespace torchvideo
