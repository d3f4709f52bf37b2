// The native half of src/stream.ts: a live source decoded on its own thread (cpp/video/stream_reader.h),
// which wakes JS through a thread-safe function whenever a window, the end, or room for pushed bytes is there.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "cpp/video/stream_reader.h"

namespace torchvideo::binding {

class StreamReaderWrap : public Napi::ObjectWrap<StreamReaderWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  // new StreamReader(source, push, options, onWake): source a path or URL, or (push) a name for messages.
  explicit StreamReaderWrap(const Napi::CallbackInfo& info);
  ~StreamReaderWrap() override;

 private:
  Napi::Value take(const Napi::CallbackInfo& info);
  Napi::Value push(const Napi::CallbackInfo& info);
  void end(const Napi::CallbackInfo& info);
  Napi::Value writable(const Napi::CallbackInfo& info);
  // ref(true) while JS waits for a wake-up (keeps the event loop alive), ref(false) otherwise.
  void ref(const Napi::CallbackInfo& info);
  void close(const Napi::CallbackInfo& info);
  void shutDown();
  static void cleanupHook(void* self);

  std::unique_ptr<StreamReader> reader_;
  Napi::ThreadSafeFunction wake_;
  // At most one wake-up queued at a time, so a fast decode thread cannot grow the queue.
  std::shared_ptr<std::atomic<bool>> wakePending_ = std::make_shared<std::atomic<bool>>(false);
  // Set by shutDown: a wake-up still queued after the reader closed has no one to wake, and may be
  // delivered while the environment is torn down, where calling into JS throws.
  std::shared_ptr<std::atomic<bool>> shut_ = std::make_shared<std::atomic<bool>>(false);
  bool closed_ = false;
  napi_env env_ = nullptr;
  bool inCleanupHook_ = false;
};

}  // namespace torchvideo::binding
