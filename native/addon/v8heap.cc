// V8's flags and heap figures without node:v8 (addon.cc's Init installs them; src/heap.ts and
// src/cli/main.ts use them). node:v8 loads internal/heap_utils, which loads the stream modules
// for its heap snapshot streams: ~1.3 ms of every command's main thread for two calls.
//   setV8Flags(flags)   -> undefined   v8::V8::SetFlagsFromString, as v8.setFlagsFromString
//   heapSpaceSizes()    -> [young, old]  space_size of V8's new_space and old_space (bytes), as
//                                     v8.getHeapSpaceStatistics gives them
#include "v8heap.h"

#include <cstring>
#include <string>
#include <v8.h>

namespace {

Napi::Value SetV8Flags(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "setV8Flags(flags: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string f = info[0].As<Napi::String>().Utf8Value();
  v8::V8::SetFlagsFromString(f.c_str(), f.size());
  return env.Undefined();
}

Napi::Value HeapSpaceSizes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  double young = 0, old = 0;
  v8::HeapSpaceStatistics s;
  for (size_t i = 0; iso && i < iso->NumberOfHeapSpaces(); i++) {
    if (!iso->GetHeapSpaceStatistics(&s, i)) continue;
    if (!strcmp(s.space_name(), "new_space")) young = static_cast<double>(s.space_size());
    else if (!strcmp(s.space_name(), "old_space")) old = static_cast<double>(s.space_size());
  }
  Napi::Array r = Napi::Array::New(env, 2);
  r.Set(0u, Napi::Number::New(env, young));
  r.Set(1u, Napi::Number::New(env, old));
  return r;
}

}  // namespace

void InitV8Heap(Napi::Env env, Napi::Object exports) {
  exports.Set("setV8Flags", Napi::Function::New(env, SetV8Flags));
  exports.Set("heapSpaceSizes", Napi::Function::New(env, HeapSpaceSizes));
}
