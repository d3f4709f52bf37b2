#include "binding/cancel.h"

#include "cpp/errors.h"

namespace torchvideo::binding {
namespace {

// The handle owns one reference to the flag; each job that carries it owns another, so a job still
// queued after JS dropped its token sees the same flag.
using Token = Napi::External<CancelFlag>;

CancelFlag flagOf(const Napi::Value& value, const char* name) {
  if (!value.IsExternal()) throw Error::type(std::string("expected ") + name + " to be a cancel token");
  return *value.As<Token>().Data();
}

}  // namespace

CancelFlag readCancelFlag(const Napi::Value& options) {
  if (!options.IsObject()) return nullptr;
  const auto value = options.As<Napi::Object>().Get("cancel");
  if (value.IsUndefined()) return nullptr;
  return flagOf(value, "options.cancel");
}

Napi::Value newCancelToken(const Napi::CallbackInfo& info) {
  auto* flag = new CancelFlag(std::make_shared<std::atomic<bool>>(false));
  return Token::New(info.Env(), flag, [](Napi::Env, CancelFlag* owned) { delete owned; });
}

void raiseCancelToken(const Napi::CallbackInfo& info) {
  try {
    flagOf(info[0], "token")->store(true);
  } catch (const Error& error) {
    throw Napi::TypeError::New(info.Env(), error.what());
  }
}

}  // namespace torchvideo::binding
