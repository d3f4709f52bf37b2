// The native half of src/video.ts: an open video file whose frames are decoded on the decode pool.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "cpp/video/preprocess.h"
#include "cpp/video/video_decoder.h"

namespace torchvideo::binding {

// Reads one JS preprocessing options object (resizeHeight, resizeWidth, cropSize, mean, std, train, seed,
// crops).
PreprocessOptions readPreprocessOptions(const Napi::Value& value);

class VideoReaderWrap : public Napi::ObjectWrap<VideoReaderWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit VideoReaderWrap(const Napi::CallbackInfo& info);

 private:
  // A decoder is used by one thread at a time; reads queued on the decode pool take turns here.
  struct Shared {
    std::mutex mutex;
    VideoDecoder decoder;
    Shared(const std::string& path, const VideoDecoderOptions& options) : decoder(path, options) {}
  };

  static Napi::Value open(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);
  Napi::Value closed(const Napi::CallbackInfo& info);
  Napi::Value frameIndex(const Napi::CallbackInfo& info);
  Napi::Value decodeStats(const Napi::CallbackInfo& info);
  Napi::Value readFrames(const Napi::CallbackInfo& info);
  Napi::Value readClips(const Napi::CallbackInfo& info);
  void close(const Napi::CallbackInfo& info);

  std::shared_ptr<Shared> readerOrThrow() const;

  // Shared with in-flight reads: close() drops this handle at once, and the file is closed when the
  // last read holding it finishes.
  std::shared_ptr<Shared> shared_;
};

}  // namespace torchvideo::binding
