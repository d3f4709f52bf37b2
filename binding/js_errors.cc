#include "binding/js_errors.h"

#include <c10/util/Exception.h>

#include "binding/addon_data.h"
#include "cpp/errors.h"
#include "cpp/torch_errors.h"

namespace torchvideo::binding {

Napi::Error torchVideoError(Napi::Env env, const std::string& code, const std::string& message) {
  auto& data = AddonData::of(env);
  if (!data.errorClass.IsEmpty()) {
    auto error = data.errorClass.New({Napi::String::New(env, message), Napi::String::New(env, code)});
    return Napi::Error(env, error);
  }
  auto error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Error jsErrorFrom(Napi::Env env, std::exception_ptr exception) {
  try {
    std::rethrow_exception(exception);
  } catch (const Error& error) {
    switch (error.kind()) {
      case ErrorKind::Type: return Napi::TypeError::New(env, error.what());
      case ErrorKind::Range: return Napi::RangeError::New(env, error.what());
      case ErrorKind::TorchVideo: return torchVideoError(env, error.code(), error.what());
    }
  } catch (const Napi::Error& error) {
    return error;
  } catch (const c10::Error& error) {
    return torchVideoError(env, codes::kTorch, torchMessage(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    return torchVideoError(env, codes::kNative, error.what());
  } catch (...) {
    return torchVideoError(env, codes::kNative, "unknown native error");
  }
  return torchVideoError(env, codes::kNative, "unknown native error");
}

}  // namespace torchvideo::binding
