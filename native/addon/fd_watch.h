// An fd watched from the event loop with a JavaScript callback (pipes.cc: pipeRead, pipeWrite;
// spawn.cc: watchExit): what such a watch holds, and its start from the call's (fd, cb).
#pragma once
#include <napi.h>
#include <uv.h>

#include <cerrno>

#include "js_call.h"
#include "throw_errno.h"

struct FdWatch {
  uv_poll_t poll;
  int fd;
  napi_env env;
  Napi::FunctionReference cb;
};

// A new T (an FdWatch) for the call's arguments (fd, cb), its poll made on the env's event loop
// (not started; poll.data is the T); nullptr once an error is thrown (usage: the call's form).
template <class T>
T *NewFdWatch(const Napi::CallbackInfo &info, const char *usage) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return nullptr;
  }
  uv_loop_t *loop = LoopOf(env);
  if (!loop) {
    ThrowErrno(env, "uv_default_loop", EINVAL);
    return nullptr;
  }
  T *t = new T();
  t->fd = info[0].As<Napi::Number>().Int32Value();
  t->env = env;
  t->cb = Napi::Persistent(info[1].As<Napi::Function>());
  t->poll.data = t;
  int e = uv_poll_init(loop, &t->poll, t->fd);
  if (e != 0) {
    delete t;
    ThrowErrno(env, "uv_poll_init", -e);
    return nullptr;
  }
  return t;
}
