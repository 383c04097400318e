// V8's flags and heap figures without node:v8 (addon.cc's Init installs them; src/heap.ts and
// src/cli/main.ts use them). node:v8 loads internal/heap_utils, which loads the stream modules
// for its heap snapshot streams: ~1.3 ms of every command's main thread for two calls.
//   setV8Flags(flags)   -> undefined   v8::V8::SetFlagsFromString, as v8.setFlagsFromString
//   heapSpaceSizes()    -> [young, old]  space_size of V8's new_space and old_space (bytes), as
//                                     v8.getHeapSpaceStatistics gives them
//   watchGC(cb)         -> stop()      cb() from the event loop after garbage collections (one
//                                     call for those that ended since the last), as a
//                                     PerformanceObserver of 'gc' entries calls back, without
//                                     node:perf_hooks (~0.75 ms of a command to load and observe);
//                                     the watch does not keep the event loop alive; stop() ends it
#include "v8heap.h"
#include "js_call.h"

#include <cstring>
#include <string>
#include <uv.h>
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

// A GC epilogue may not call into JavaScript: it wakes the loop, whose async callback does.
struct GcWatch {
  uv_async_t async;
  napi_env env;
  v8::Isolate *iso;
  Napi::FunctionReference cb;
  bool stopped = false;
};

void GcEnded(v8::Isolate *, v8::GCType, v8::GCCallbackFlags, void *data) {
  uv_async_send(&static_cast<GcWatch *>(data)->async);
}

void GcWoken(uv_async_t *a) {
  GcWatch *w = static_cast<GcWatch *>(a->data);
  if (w->stopped) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(w->env, &scope) != napi_ok) return;
  // also during Node's teardown (a collection there, the watch left running): see js_call.h
  CallFromLoop(w->env, w->cb, 0, nullptr);
  napi_close_handle_scope(w->env, scope);
}

void GcClosed(uv_handle_t *h) { delete static_cast<GcWatch *>(h->data); }

Napi::Value GcStop(const Napi::CallbackInfo &info) {
  GcWatch *w = static_cast<GcWatch *>(info.Data());
  if (!w->stopped) {
    w->stopped = true;
    w->iso->RemoveGCEpilogueCallback(GcEnded, w);
    w->cb.Reset();
    uv_close(reinterpret_cast<uv_handle_t *>(&w->async), GcClosed);
  }
  return info.Env().Undefined();
}

Napi::Value WatchGC(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "watchGC(cb)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t *loop = LoopOf(env);
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!loop || !iso) {
    Napi::Error::New(env, "watchGC: no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  GcWatch *w = new GcWatch();
  w->env = env;
  w->iso = iso;
  w->async.data = w;
  if (uv_async_init(loop, &w->async, GcWoken) != 0) {
    delete w;
    Napi::Error::New(env, "watchGC: uv_async_init failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_unref(reinterpret_cast<uv_handle_t *>(&w->async));
  w->cb = Napi::Persistent(info[0].As<Napi::Function>());
  iso->AddGCEpilogueCallback(GcEnded, w);
  return Napi::Function::New(env, GcStop, "stop", w);
}

}  // namespace

void InitV8Heap(Napi::Env env, Napi::Object exports) {
  exports.Set("setV8Flags", Napi::Function::New(env, SetV8Flags));
  exports.Set("heapSpaceSizes", Napi::Function::New(env, HeapSpaceSizes));
  exports.Set("watchGC", Napi::Function::New(env, WatchGC));
}
