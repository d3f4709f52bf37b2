// A flag the TS layer raises when a call's AbortSignal aborts (src/abort.ts). The job that carries it
// checks it on its worker thread right before `compute`: a job aborted while queued never runs. A job
// already running is not interrupted (LibTorch and FFmpeg have no safe point to stop at); the TS layer
// drops its result.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

namespace torchvideo::binding {

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// `cancel` of an options object: a token from cancelToken(), or nothing (undefined, or no object).
CancelFlag readCancelFlag(const Napi::Value& options);

// cancelToken(): a new, lowered flag, as an opaque handle for the TS layer.
Napi::Value newCancelToken(const Napi::CallbackInfo& info);
// cancel(token): raises it. Safe from any state: the jobs that carry it may have finished.
void raiseCancelToken(const Napi::CallbackInfo& info);

}  // namespace torchvideo::binding
