// The addon's errors: an Error thrown into JavaScript with `code` (errno name), `errno` and
// `syscall` (addon.cc, spawn.cc).
#pragma once
#include <napi.h>

#include <cstring>
#include <string>

inline Napi::Value ThrowErrno(Napi::Env env, const char *syscall, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " failed: " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN"));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}
