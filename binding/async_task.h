// Runs work off the JS thread and settles a Promise with its result.
//
// `compute` runs on a worker thread (a device executor or the decode pool) and must touch no N-API.
// `settle` runs back on the JS thread and turns the result into a JS value. The job travels back
// through a thread-safe function made for it alone, which also keeps the event loop alive while the
// promise is pending. Every job settles its promise exactly once: with settle's value, or with the
// JS error its exception maps to.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "binding/cancel.h"
#include "binding/js_errors.h"
#include "cpp/errors.h"
#include "cpp/thread_pool.h"

namespace torchvideo::binding {

template <typename Result>
class AsyncJob {
 public:
  using Compute = std::function<Result()>;
  using Settle = std::function<Napi::Value(Napi::Env, Result&)>;

  // JS buffers that `compute` reads stay alive through the tensors it captures (see tensor.cc's
  // JsBufferHold), so the job itself holds no JS handles but its promise.
  // `cancelled` (optional): raised by the caller's AbortSignal. Checked on the worker right before
  // `compute`: a job cancelled while queued does not compute and rejects. The TS layer has already
  // rejected the caller's promise by then, so that rejection only frees the job.
  static Napi::Promise start(Napi::Env env, ThreadPool& pool, Compute compute, Settle settle,
                             CancelFlag cancelled = nullptr) {
    auto job = std::make_unique<AsyncJob>(env, std::move(compute), std::move(settle));
    auto promise = job->deferred_.Promise();
    // Node deletes a thread-safe function when its environment is torn down (a worker terminated,
    // the process exiting), even while a thread still holds it: calling it then is a use-after-free.
    // The gate closes in the function's finalizer, on the JS thread, before the deletion; the worker
    // only calls through it with the gate open and locked.
    // The worker and the function each hold the gate; the last one to let go frees it.
    auto gate = std::make_shared<Gate>();
    auto channel = Channel::New(env, "torchvideo", /*maxQueueSize=*/0, /*initialThreadCount=*/1,
                                new std::shared_ptr<Gate>(gate), &Gate::close, static_cast<void*>(nullptr));
    AsyncJob* raw = job.release();
    pool.post([raw, channel, gate, cancelled]() mutable {
      // A job queued behind others may find its environment already gone (a worker terminated):
      // nobody will read the result, so it is not computed.
      if (cancelled && cancelled->load()) {
        raw->error_ = std::make_exception_ptr(Error::torchvideo(codes::kNative, "the call was aborted before it ran"));
      } else if (!isClosed(*gate)) {
        try {
          raw->result_.emplace(raw->compute_());
        } catch (...) {
          raw->error_ = std::current_exception();
        }
      }
      // What compute captured (a model, a trainer, a process group) is let go here, on the executor:
      // were it the last reference, its teardown (joining threads, draining queues) would otherwise
      // run on the JS thread when the promise settles.
      raw->compute_ = Compute();
      std::unique_lock<std::mutex> lock(gate->mutex);
      if (gate->closed || channel.BlockingCall(raw) != napi_ok) {
        lock.unlock();
        // The environment is gone: nobody is left to settle. The job's C++ state (the model or
        // decoder its compute holds, the result) is freed here; only its promise handle, which may
        // not be touched off the JS thread, goes with the environment.
        abandon(raw);
        return;
      }
      channel.Release();
    });
    return promise;
  }

  AsyncJob(Napi::Env env, Compute compute, Settle settle)
      : deferred_(Napi::Promise::Deferred::New(env)), compute_(std::move(compute)), settle_(std::move(settle)) {}

 private:
  struct Gate {
    std::mutex mutex;
    bool closed = false;
    // The thread-safe function's finalizer: runs on the JS thread, then the function is deleted.
    static void close(Napi::Env, void*, std::shared_ptr<Gate>* gate) {
      {
        std::lock_guard<std::mutex> lock((*gate)->mutex);
        (*gate)->closed = true;
      }
      delete gate;
    }
  };

  static bool isClosed(Gate& gate) {
    std::lock_guard<std::mutex> lock(gate.mutex);
    return gate.closed;
  }

  // Frees everything the job owns but its Deferred: a napi_deferred is released only by resolving
  // or rejecting it on the JS thread, and Napi::Promise::Deferred's destructor touches nothing.
  static void abandon(AsyncJob* job) { delete job; }

  static void deliver(Napi::Env env, Napi::Function, std::shared_ptr<Gate>*, AsyncJob* job) {
    // No environment: it is being torn down with this job still queued; free the job with it.
    if (env == nullptr) {
      abandon(job);
      return;
    }
    std::unique_ptr<AsyncJob> owned(job);
    Napi::HandleScope scope(env);
    if (job->error_) {
      job->deferred_.Reject(jsErrorFrom(env, job->error_).Value());
      return;
    }
    try {
      job->deferred_.Resolve(job->settle_(env, *job->result_));
    } catch (...) {
      job->deferred_.Reject(jsErrorFrom(env, std::current_exception()).Value());
    }
  }

  using Channel = Napi::TypedThreadSafeFunction<std::shared_ptr<Gate>, AsyncJob, &AsyncJob::deliver>;

  Napi::Promise::Deferred deferred_;
  Compute compute_;
  Settle settle_;
  std::optional<Result> result_;
  std::exception_ptr error_;
};

// Rejects with the error `body` throws before any work is queued, so a promise-returning method
// never throws synchronously.
template <typename Body>
Napi::Value promiseOrReject(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (...) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(jsErrorFrom(env, std::current_exception()).Value());
    return deferred.Promise();
  }
}

}  // namespace torchvideo::binding
