// Turns C++ exceptions into the JS errors the API documents: torchvideo::Error by kind into
// TypeError / RangeError / TorchVideoError (with `code`), LibTorch's c10::Error into a
// TorchVideoError without its backtrace, anything else into TorchVideoError ERR_NATIVE.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace torchvideo::binding {

Napi::Error jsErrorFrom(Napi::Env env, std::exception_ptr error);
Napi::Error torchVideoError(Napi::Env env, const std::string& code, const std::string& message);

// Runs a synchronous entry point, converting any C++ exception into the matching JS exception.
template <typename Body>
auto callNative(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw jsErrorFrom(env, std::current_exception());
  }
}

}  // namespace torchvideo::binding
