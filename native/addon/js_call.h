// The addon's libuv handles (spawn.cc, pipes.cc, v8heap.cc): the event loop they go on, and
// their callbacks into JavaScript, with raw napi calls (nothing is thrown into C++).
#pragma once
#include <initializer_list>
#include <node_api.h>
#include <uv.h>

// The event loop of env (the main thread's, or a worker's), or nullptr.
inline uv_loop_t *LoopOf(napi_env env) {
  uv_loop_t *loop = nullptr;
  return napi_get_uv_event_loop(env, &loop) == napi_ok ? loop : nullptr;
}

// Calls fn (a reference) with args, as an event: a throw from it is the process's uncaught
// exception, as from any other event. When JavaScript can no longer run (Node's teardown, where
// a handle's close or a collection can still wake the loop), napi_make_callback fails without
// an exception pending: then nothing is called, and nothing is reported.
inline void CallFromLoop(napi_env env, napi_ref fn_ref, size_t argc, const napi_value *argv) {
  napi_value fn = nullptr, global, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || !fn || napi_get_global(env, &global) != napi_ok) return;
  if (napi_make_callback(env, nullptr, global, fn, argc, argv, &result) == napi_ok) return;
  bool pending = false;
  napi_value e;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &e) == napi_ok)
    napi_fatal_exception(env, e);
}

inline void CallFromLoop(napi_env env, napi_ref fn_ref, std::initializer_list<napi_value> args) {
  CallFromLoop(env, fn_ref, args.size(), args.begin());
}
