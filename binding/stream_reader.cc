#include "binding/stream_reader.h"

#include <chrono>
#include <cmath>

#include "binding/addon_data.h"
#include "binding/js_errors.h"
#include "binding/options.h"
#include "binding/tensor.h"
#include "binding/video_reader.h"
#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

double requiredNumber(const Napi::Object& options, const char* name) {
  const auto value = options.Get(name);
  if (!value.IsNumber()) throw Error::type(std::string("expected options.") + name + " to be a number");
  return value.As<Napi::Number>().DoubleValue();
}

}  // namespace

Napi::Function StreamReaderWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeStreamReader",
                     {
                         InstanceMethod<&StreamReaderWrap::take>("take"),
                         InstanceMethod<&StreamReaderWrap::push>("push"),
                         InstanceMethod<&StreamReaderWrap::end>("end"),
                         InstanceMethod<&StreamReaderWrap::writable>("writable"),
                         InstanceMethod<&StreamReaderWrap::ref>("ref"),
                         InstanceMethod<&StreamReaderWrap::close>("close"),
                     });
}

StreamReaderWrap::StreamReaderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StreamReaderWrap>(info) {
  const auto env = info.Env();
  callNative(env, [&] {
    if (!info[0].IsString()) throw Error::type("expected source to be a string");
    if (!info[2].IsObject()) throw Error::type("expected options to be an object");
    if (!info[3].IsFunction()) throw Error::type("expected onWake to be a function");
    const std::string source = info[0].As<Napi::String>().Utf8Value();
    const bool push = info[1].ToBoolean();
    const auto object = info[2].As<Napi::Object>();
    StreamOptions options;
    options.clipLength = static_cast<int>(requiredNumber(object, "clipLength"));
    options.frameRate = requiredNumber(object, "frameRate");
    options.hopSec = requiredNumber(object, "hopSec");
    options.realtime = optionalBool(object, "realtime").value_or(false);
    options.stallTimeoutMs = static_cast<int64_t>(requiredNumber(object, "stallTimeoutMs"));
    options.preprocess = readPreprocessOptions(object.Get("preprocess"));
    // -1: reopen without end (JS passes Infinity as -1).
    options.reconnectRetries = static_cast<int64_t>(requiredNumber(object, "reconnectRetries"));
    options.reconnectInitialDelayMs = static_cast<int64_t>(requiredNumber(object, "reconnectInitialDelayMs"));
    options.reconnectMaxDelayMs = static_cast<int64_t>(requiredNumber(object, "reconnectMaxDelayMs"));
    if (options.reconnectRetries < -1 || options.reconnectInitialDelayMs < 0 ||
        options.reconnectMaxDelayMs < options.reconnectInitialDelayMs || options.reconnectMaxDelayMs > 86400000) {
      throw Error::range("reconnect must have retries >= 0 and 0 <= initialDelayMs <= maxDelayMs <= 86400000");
    }
    if (options.clipLength < 1 || options.clipLength > 10000) throw Error::range("clipLength must be 1 to 10000");
    // The source is checked (and a missing file refused) before any thread or wake-up exists.
    if (!push) resolveStreamSource(source);
    wake_ = Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "torchvideo stream", 0, 1);
    // Unreferenced until JS waits on it: an abandoned stream must not keep the process alive.
    wake_.Unref(env);
    auto pending = wakePending_;
    auto shut = shut_;
    auto wake = wake_;
    auto notify = [pending, shut, wake]() mutable {
      if (pending->exchange(true)) return;
      wake.NonBlockingCall([pending, shut](Napi::Env env, Napi::Function callback) {
        pending->store(false);
        // After close() nothing waits for a wake-up; one still queued then may be delivered during the
        // environment's teardown (a process exiting right after a stream stopped), where calling into
        // JS throws into std::terminate.
        if (shut->load() || env == nullptr || callback.IsEmpty()) return;
        callback.Call({});
      });
    };
    try {
      reader_ = std::make_unique<StreamReader>(source, push, options, notify);
    } catch (...) {
      wake_.Release();
      closed_ = true;
      throw;
    }
    env_ = env;
    // A stream still open when the environment goes (process exit, a worker ending) stops with it.
    napi_add_env_cleanup_hook(env, &StreamReaderWrap::cleanupHook, this);
  });
}

StreamReaderWrap::~StreamReaderWrap() { shutDown(); }

void StreamReaderWrap::shutDown() {
  if (closed_ || !reader_) {
    closed_ = true;  // a constructor that threw has nothing running
    return;
  }
  closed_ = true;
  shut_->store(true);
  reader_->close();  // joins the decode thread: after this nothing calls wake_
  reader_.reset();
  wake_.Release();
  if (!inCleanupHook_) napi_remove_env_cleanup_hook(env_, &StreamReaderWrap::cleanupHook, this);
}

void StreamReaderWrap::cleanupHook(void* self) {
  auto* wrap = static_cast<StreamReaderWrap*>(self);
  wrap->inCleanupHook_ = true;  // Node has taken the hook off its list to run it
  wrap->shutDown();
}

Napi::Value StreamReaderWrap::take(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    auto result = Napi::Object::New(env);
    if (closed_) {
      result.Set("finished", true);
      return result;
    }
    auto got = reader_->take();
    result.Set("dropped", static_cast<double>(got.dropped));
    result.Set("reconnects", static_cast<double>(got.reconnects));
    if (!got.events.empty()) {
      auto events = Napi::Array::New(env, got.events.size());
      for (size_t i = 0; i < got.events.size(); ++i) {
        auto event = Napi::Object::New(env);
        event.Set("type", got.events[i].type);
        if (got.events[i].type == "reconnecting") {
          event.Set("attempt", static_cast<double>(got.events[i].attempt));
          event.Set("delayMs", static_cast<double>(got.events[i].delayMs));
          event.Set("reason", got.events[i].message);
        }
        events.Set(static_cast<uint32_t>(i), event);
      }
      result.Set("events", events);
    }
    result.Set("opened", got.opened);
    result.Set("ended", got.ended);
    result.Set("finished", got.finished);
    if (got.error) result.Set("error", jsErrorFrom(env, got.error).Value());
    if (got.window) {
      const auto age = std::chrono::steady_clock::now() - got.window->arrival;
      result.Set("clip", TensorWrap::wrap(env, std::move(got.window->clip)));
      result.Set("startSec", got.window->startSec);
      result.Set("endSec", got.window->endSec);
      result.Set("ageMs", std::chrono::duration<double, std::milli>(age).count());
      if (got.window->decodeCpuMs >= 0) result.Set("decodeMs", got.window->decodeCpuMs);
    }
    return result;
  });
}

Napi::Value StreamReaderWrap::push(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  return callNative(env, [&]() -> Napi::Value {
    if (closed_) return Napi::Boolean::New(env, false);
    if (!info[0].IsTypedArray()) throw Error::type("expected chunk to be a Uint8Array");
    const auto bytes = info[0].As<Napi::Uint8Array>();
    return Napi::Boolean::New(env, reader_->push(bytes.Data(), bytes.ByteLength()));
  });
}

void StreamReaderWrap::end(const Napi::CallbackInfo&) {
  if (!closed_) reader_->endOfInput();
}

Napi::Value StreamReaderWrap::writable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !closed_ && reader_->writable());
}

void StreamReaderWrap::ref(const Napi::CallbackInfo& info) {
  if (closed_) return;
  if (info[0].ToBoolean()) {
    wake_.Ref(info.Env());
  } else {
    wake_.Unref(info.Env());
  }
}

void StreamReaderWrap::close(const Napi::CallbackInfo&) { shutDown(); }

}  // namespace torchvideo::binding
