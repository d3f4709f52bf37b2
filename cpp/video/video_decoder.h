// Random access to the frames of one video file, decoded with FFmpeg's libraries into RGB24
// tensors that match what torchvision gets from PyAV byte for byte.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cpp/video/frame_index.h"
#include "cpp/video/video_info.h"

namespace torchvideo {

struct VideoDecoderOptions {
  // FFmpeg's frame/slice threads for this file: 0, one per core (one video decoded at a time, as
  // classify does); 1 when many files decode side by side on a pool sized to the cores.
  int threads = 0;
  // The index an earlier open of the same, unchanged file built (frameIndex()): opening then reads
  // the headers only, not every packet. Checked for consistency (Error::range), not against the file.
  std::optional<FrameIndex> index;
  // Frames no one asked for that no other frame references (H.264/HEVC non-reference pictures, MPEG-4
  // Part 2 and MPEG-1/2 B-frames) are not decoded at all, where the codec supports it and frames are
  // known by timestamp. Every frame handed out is the same either way; false decodes everything (the
  // bench's baseline).
  bool skipUnwanted = true;
};

// What the decoder did, for benchmarks: frames the codec produced since the file was opened, whether
// unwanted non-reference frames are skipped for this file, and how often skipping had to be given up
// (a wanted frame went missing; the file is then decoded in full).
struct DecodeStats {
  int64_t framesDecoded = 0;
  bool skipsUnwanted = false;
  int64_t planFallbacks = 0;
};

// Not thread-safe: one VideoDecoder is used by one thread at a time (callers serialise).
// Separate decoders on separate threads are independent and may run concurrently.
class VideoDecoder {
 public:
  // Opens the file (by content, whatever its extension), picks the best video stream and indexes
  // its frames by demuxing packets (no decoding), so frame i means the i-th frame in presentation
  // order (or takes options.index). Decodes with options.threads FFmpeg threads.
  // Throws torchvideo::Error: kFileNotFound, kNotAFile, kVideoOpen (not a media file, empty,
  // truncated), kNoVideoStream (audio only), kVideoDecode (no decoder for the codec, or not one
  // frame can be read).
  explicit VideoDecoder(const std::string& path, const VideoDecoderOptions& options = {});
  ~VideoDecoder();  // frees every FFmpeg object; so does a constructor that throws

  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  const VideoInfo& info() const;
  const FrameIndex& frameIndex() const;
  const std::string& path() const;
  // Safe to call while another thread reads frames.
  DecodeStats stats() const;

  // uint8 tensor (T, H, W, 3), RGB24, frame t = frame indices[t]; any order, repeats allowed.
  // Seeks to the nearest keyframe at or before a wanted frame instead of decoding from the start,
  // decoding forward from there: frames are visited sorted and unique, then scattered into the
  // requested order. Throws Error::range for an index outside [0, frameCount) and kVideoDecode
  // (naming the frame) for a frame that can't be decoded, e.g. past the cut of a truncated file;
  // the frame named is the same on every run (a failure is confirmed on one decoder thread).
  torch::Tensor readFrames(const std::vector<int64_t>& indices);

 private:
  void decodeWanted(const std::vector<int64_t>& wanted, std::vector<char>& filled, torch::Tensor& out);
  void decodePlanned(const std::vector<int64_t>& wanted, std::vector<char>& filled, torch::Tensor& out);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torchvideo
