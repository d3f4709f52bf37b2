#pragma once

#include <napi.h>

namespace torchvideo::binding {

// preprocess(frames: NativeTensor uint8 (T, H, W, 3), options) -> Promise<NativeTensor float32 (3, T, crop, crop)>
Napi::Value preprocess(const Napi::CallbackInfo& info);

}  // namespace torchvideo::binding
