// The helper's start and end without node:child_process (addon.cc's Init installs it; see
// src/kernel/helper.ts and docs/performance.md, "Fifteenth session").
//
// Loading node:child_process and spawning through it cost a command ~4.5 ms of its main thread
// (the module and the ones it loads, ~2 ms; ChildProcess.spawn, ~2.6 ms), for one child with
// three pipes. Here:
//   spawnHelper(file, args, fds, env) -> [pid, pidfd, stdin, stdout, stderr]
//       posix_spawn(3) (a vfork: nothing of the parent's memory is copied) of file with args
//       (argv[0] is file), env ("NAME=value" strings: the caller's process.env, as a
//       ChildProcess gets it, also in a worker thread, whose process.env is its own), three
//       new pipes as its fds 0, 1, 2 (the returned stdin is the end to write, stdout and
//       stderr the ends to read; all three close-on-exec here) and fds[i] as its fd 3 + i.
//       Signals 1-31 back to their default disposition and an empty signal mask in the child,
//       as libuv's spawn gives them. The pidfd (pidfd_open) names the child for watchExit.
//   watchExit(pidfd, cb)          -> undefined
//       cb(code, signal) once the child has exited (signal 0 if it exited, else code -1), called
//       from the event loop (a libuv poll of the pidfd, which becomes readable then) after the
//       child is reaped (waitid P_PIDFD); the pidfd is closed. The poll keeps the event loop
//       alive until then, as a ChildProcess does.
// Errors are thrown as in addon.cc (code, errno, syscall).
#include "spawn.h"
#include "fd_watch.h"
#include "js_call.h"
#include "throw_errno.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <string>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <vector>

namespace {

void CloseAll(const int *fds, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

constexpr int kPipeSize = 1 << 20;

// A null-terminated char * array (argv, envp) over the strings it holds.
struct CStrings {
  std::vector<std::string> s;
  std::vector<char *> p;
  CStrings(Napi::Array a, std::vector<std::string> first = {}) : s(std::move(first)) {
    for (uint32_t i = 0; i < a.Length(); i++) s.push_back(a.Get(i).ToString().Utf8Value());
    for (auto &x : s) p.push_back(x.data());
    p.push_back(nullptr);
  }
};

Napi::Value SpawnHelper(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsArray()) {
    Napi::TypeError::New(env, "spawnHelper(file, args, fds, env)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string file = info[0].As<Napi::String>().Utf8Value();
  CStrings argv(info[1].As<Napi::Array>(), {file}), envp(info[3].As<Napi::Array>());
  Napi::Array f = info[2].As<Napi::Array>();
  std::vector<int> extra;
  for (uint32_t i = 0; i < f.Length(); i++) extra.push_back(f.Get(i).ToNumber().Int32Value());

  // pipes[0] the child's stdin (it reads [0]), [1] stdout, [2] stderr (it writes [1])
  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  for (auto &p : pipes) {
    if (pipe2(p, O_CLOEXEC) < 0) {
      int err = errno;
      CloseAll(&pipes[0][0], 6);
      return ThrowErrno(env, "pipe2", err);
    }
  }
  // The commands and the answers each get a 1 MiB pipe (best effort: a user over the kernel's
  // pipe limits keeps 64 KiB): with 64 KiB, a long command (a checkpoint's check sends ~1 MB of
  // plan for a tree of 100) stops at the first 64 KiB until Node's event loop runs again, which
  // it does only once the whole plan is made, so the helper read it after; and the helper's
  // answers stop it while Node is busy. Pages are allocated only as data fills the pipe.
  for (int fd : {pipes[0][1], pipes[1][1]}) fcntl(fd, F_SETPIPE_SZ, kPipeSize);
  int childEnd[3] = {pipes[0][0], pipes[1][1], pipes[2][1]};
  int parentEnd[3] = {pipes[0][1], pipes[1][0], pipes[2][0]};
  std::vector<int> srcs{childEnd[0], childEnd[1], childEnd[2]};
  srcs.insert(srcs.end(), extra.begin(), extra.end());
  // every source first gets a close-on-exec copy above the fds the child is given, so that no
  // dup2 of the file actions overwrites a source that a later one reads
  int base = static_cast<int>(srcs.size());
  std::vector<int> high;
  for (int s : srcs) {
    int h = fcntl(s, F_DUPFD_CLOEXEC, base);
    if (h < 0) {
      int err = errno;
      CloseAll(high.data(), high.size());
      CloseAll(&pipes[0][0], 6);
      return ThrowErrno(env, err == EBADF ? "helper fd" : "fcntl", err);
    }
    high.push_back(h);
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  for (size_t i = 0; i < high.size(); i++) posix_spawn_file_actions_adddup2(&fa, high[i], static_cast<int>(i));
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  for (int s = 1; s < 32; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaddset(&def, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int err = posix_spawn(&pid, file.c_str(), &fa, &attr, argv.p.data(), envp.p.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  CloseAll(high.data(), high.size());
  CloseAll(childEnd, 3);
  if (err) {
    CloseAll(parentEnd, 3);
    return ThrowErrno(env, "posix_spawn", err);
  }
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    CloseAll(parentEnd, 3);
    return ThrowErrno(env, "pidfd_open", e);
  }
  Napi::Array r = Napi::Array::New(env, 5);
  r.Set(0u, Napi::Number::New(env, pid));
  r.Set(1u, Napi::Number::New(env, pidfd));
  for (uint32_t i = 0; i < 3; i++) r.Set(2 + i, Napi::Number::New(env, parentEnd[i]));
  return r;
}

struct ExitWatch : FdWatch {}; // fd: the pidfd

void Closed(uv_handle_t *h) { delete static_cast<ExitWatch *>(h->data); }

void Polled(uv_poll_t *p, int status, int) {
  ExitWatch *w = static_cast<ExitWatch *>(p->data);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  // readable once the child has exited; WNOHANG: a spurious wake-up leaves it for the next one
  if (waitid(static_cast<idtype_t>(P_PIDFD), w->fd, &si, WEXITED | WNOHANG) < 0) {
    if (errno == EINTR || status == UV_EINTR) return;
    // cannot be reaped (not ours any more): reported as killed
    si.si_code = CLD_KILLED;
    si.si_status = SIGKILL;
  } else if (si.si_pid == 0) {
    return;
  }
  uv_poll_stop(p);
  close(w->fd);
  int code = si.si_code == CLD_EXITED ? si.si_status : -1;
  int sig = si.si_code == CLD_EXITED ? 0 : si.si_status;
  {
    Napi::Env env(w->env);
    Napi::HandleScope scope(env);
    CallFromLoop(w->env, w->cb, {Napi::Number::New(env, code), Napi::Number::New(env, sig)});
  }
  uv_close(reinterpret_cast<uv_handle_t *>(p), Closed);
}

Napi::Value WatchExit(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  ExitWatch *w = NewFdWatch<ExitWatch>(info, "watchExit(pidfd, cb)");
  if (!w) return env.Undefined();
  int r = uv_poll_start(&w->poll, UV_READABLE, Polled);
  if (r != 0) {
    uv_close(reinterpret_cast<uv_handle_t *>(&w->poll), Closed);
    return ThrowErrno(env, "uv_poll_start", -r);
  }
  return env.Undefined();
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnHelper", Napi::Function::New(env, SpawnHelper));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit));
}
