// A JavaScript callback called from the event loop by the addon's libuv handles (pipes.cc,
// v8heap.cc), with raw napi calls: nothing is thrown into C++.
#pragma once
#include <node_api.h>

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
