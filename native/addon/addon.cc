// ucr's Node addon: the small synchronous native surface the TypeScript side needs. Long or
// blocking work (ptrace, page streaming) lives in the ucr-helper executable instead; see
// src/native/addon.ts for the typed interface and docs/design.md for the split.
//   crc32c(buf, seed?)            -> number      CRC-32C of a Buffer, continuing seed
//   kcmpFiles(pid1, fd1, pid2, fd2) -> number    0 same open file, 1/2 ordering, throws on error
//   kcmpTasks(pid1, pid2, type)   -> number      kcmp(KCMP_FILES / KCMP_FS...): 0 shared, 1/2 ordering
//   kcmpEpollTarget(pid1, fd1, pid2, efd, tfd, toff) -> number   0: fd1 is that epoll target
//   xcr0()                        -> bigint      the CPU's enabled xsave features (XCR0)
//   fdSymlinkTarget(pid, fd)      -> string      what a symlink held by an O_PATH fd points to
//   pathOfHandle(dir, type, buf)  -> string      path of the file a file handle names
//   sigqueue(pid, sig, value)     -> undefined   sigqueue(3): SI_QUEUE with si_value.sival_int
//   fdScan(pid, info?, into?)     -> { nums, info }  every fd of a process, ascending: per fd
//                                    11 numbers and the fdinfo texts (latin1). info false: fd,
//                                    dev, ino, mode, nlink, rdev, size (the stat of the open
//                                    file), 0 x 4. Else: fd, the fdinfo's mnt_id and ino, 0 x 4,
//                                    its flags, where its text starts and ends in info, 1 when
//                                    it has a "lock:" line (no stat: the caller stats the few
//                                    fds it needs); nums is a view of the Float64Array into
//                                    when they fit in it (a scan of many processes: no buffer
//                                    per process)
//   fdScanBatch(pids, refs, skipMin?) -> Promise<({ nums, info, facts, links } | { errno, syscall })[]>
//                                    fdScan with the fdinfo of several processes on a worker
//                                    thread (fdscan.cc); slot 4 of an fd: 1 when kcmp finds it
//                                    the same open file as that fd number of refs[i] (0 if
//                                    none), and in a table of more than skipMin fds its fdinfo
//                                    is not read (flags and lock slots -1, mount and inode 0,
//                                    no text); facts: 8 numbers per fd not found the same (dev,
//                                    ino, mode, nlink, rdev, size of its stat, where its link
//                                    text lies in links, latin1), dev NaN when not taken
//   fdScanOthers(skip)            -> Promise<{ pids, starts, nums }>  fdScan without the fdinfo
//                                    of every process but those of skip, on a worker thread
//                                    (the files capture's search for holders outside the tree)
//   lockedInodes()                -> Promise<Float64Array | null>  the inode numbers /proc/locks
//                                    names, read on a worker thread (locks.cc)
//   smapsScan(buf, len)           -> Float64Array | null  where each mapping's fields lie in a
//                                    /proc/PID/smaps text: 11 numbers per mapping (smaps.cc)
//   vmapCheck(q, rest, rq, restAt) -> number    a task's packed mappings and runs checked (vmap.cc)
//   vmapPlan(q, from, to, out, outAt, dp, nr) -> number   packed mappings as plan `vmas` entries
//   userOf(uid)                   -> {name, gid, groups} | null   the user database's entry of
//                                    uid and its groups as login would give them (getgrouplist)
//   rtYield()                     -> boolean     under SCHED_FIFO/RR, the event loop yields the CPU
//                                    once a turn from now on (rtyield.cc; loading the addon under
//                                    such a policy starts it too); true when it does
//   exitNow(status)               -> never       _exit(2): the command's end without Node's
//                                    teardown (src/cli/run.ts: exitNow)
//   isatty(fd)                    -> boolean     isatty(3), without node:tty
//   pipeRead(fd, cb), pipeWrite(fd, cb)         a pipe end read or written from the event loop
//                                    without node:net (pipes.cc)
//   setV8Flags(flags), heapSpaceSizes(), watchGC(cb)  V8's flags, young/old space sizes and
//                                    the ends of its collections, without node:v8 and
//                                    node:perf_hooks (v8heap.cc)
//   spawnHelper(file, args, fds, env) -> [pid, pidfd, stdin, stdout, stderr]  the helper started
//                                    with three pipes and fds as its 3, 4...; watchExit(pidfd,
//                                    cb) calls cb(code, signal) once it has exited (spawn.cc)
//   mapFile(path, latin1)         -> Buffer | string  a regular file mapped read-only, as a Buffer
//                                    or (latin1) an external string of its bytes (mapfile.cc;
//                                    bin/ucr maps the bundle and its code cache)
// Errors are thrown as Error objects carrying `code` (errno name), `errno` and `syscall`.
#include <napi.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <sys/stat.h>
#include <vector>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <csignal>
#include <grp.h>
#include <pwd.h>
#include <vector>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/crc32c.h"
#include "fdscan.h"
#include "locks.h"
#include "mapfile.h"
#include "rtyield.h"
#include "smaps.h"
#include "pipes.h"
#include "spawn.h"
#include "throw_errno.h"
#include "v8heap.h"
#include "vmap.h"

namespace {

Napi::Value Crc32c(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "crc32c(buf: Buffer, seed?: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  uint32_t seed = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Number::New(env, ucr_crc32c(seed, buf.Data(), buf.Length()));
}

Napi::Value KcmpTasks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) {
    Napi::TypeError::New(env, "kcmpTasks(pid1, pid2, type)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  long r = syscall(SYS_kcmp, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
                   info[2].As<Napi::Number>().Int32Value(), 0UL, 0UL);
  if (r < 0) return ThrowErrno(env, "kcmp", errno);
  return Napi::Number::New(env, static_cast<double>(r));
}

Napi::Value KcmpFiles(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) {
    Napi::TypeError::New(env, "kcmpFiles(pid1, fd1, pid2, fd2)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  long r = syscall(SYS_kcmp, info[0].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(),
                   KCMP_FILE, info[1].As<Napi::Number>().Int64Value(), info[3].As<Napi::Number>().Int64Value());
  if (r < 0) return ThrowErrno(env, "kcmp", errno);
  return Napi::Number::New(env, static_cast<double>(r));
}

// kcmp(KCMP_EPOLL_TFD): 0 when fd1 of pid1 is the file registered in pid2's epoll efd at
// target fd number tfd (toff: which of several registrations with that number).
Napi::Value KcmpEpollTarget(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) {
    Napi::TypeError::New(env, "kcmpEpollTarget(pid1, fd1, pid2, efd, tfd, toff)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct kcmp_epoll_slot slot = {info[3].As<Napi::Number>().Uint32Value(), info[4].As<Napi::Number>().Uint32Value(),
                                 info[5].As<Napi::Number>().Uint32Value()};
  long r = syscall(SYS_kcmp, info[0].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value(),
                   KCMP_EPOLL_TFD, info[1].As<Napi::Number>().Int64Value(), (unsigned long)&slot);
  if (r < 0) return ThrowErrno(env, "kcmp", errno);
  return Napi::Number::New(env, static_cast<double>(r));
}

// The target of the symbolic link fd of pid holds (O_PATH|O_NOFOLLOW), also once its name is
// removed: /proc/PID/fd/N opened O_PATH leads to the link itself, readlinkat(fd, "") reads it.
Napi::Value FdSymlinkTarget(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) {
    Napi::TypeError::New(env, "fdSymlinkTarget(pid, fd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  char path[64], buf[PATH_MAX];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open", errno);
  ssize_t n = readlinkat(fd, "", buf, sizeof buf);
  int e = errno;
  close(fd);
  if (n < 0) return ThrowErrno(env, "readlinkat", e);
  if (n >= (ssize_t)sizeof buf) return ThrowErrno(env, "readlinkat", ENAMETOOLONG);
  return Napi::String::New(env, buf, static_cast<size_t>(n));
}

Napi::Value Xcr0(const Napi::CallbackInfo &info) {
  uint32_t lo = 0, hi = 0;
#if defined(__x86_64__)
  uint32_t a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  if (c & (1u << 27)) __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
#endif
  return Napi::BigInt::New(info.Env(), (static_cast<uint64_t>(hi) << 32) | lo);
}

// pathOfHandle(mountDir, handleType, handle): the path of the file a file handle names
// (open_by_handle_at on the mount, then the /proc link); used for inotify watches.
Napi::Value PathOfHandle(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBuffer()) {
    Napi::TypeError::New(env, "pathOfHandle(mountDir: string, type: number, handle: Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto h = info[2].As<Napi::Buffer<uint8_t>>();
  if (h.Length() > MAX_HANDLE_SZ) return ThrowErrno(env, "open_by_handle_at", EINVAL);
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  int mfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mfd < 0) return ThrowErrno(env, "open", errno);
  union {
    struct file_handle fh;
    char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
  } u;
  u.fh.handle_bytes = static_cast<unsigned>(h.Length());
  u.fh.handle_type = info[1].As<Napi::Number>().Int32Value();
  memcpy(u.fh.f_handle, h.Data(), h.Length());
  int fd = open_by_handle_at(mfd, &u.fh, O_PATH | O_CLOEXEC);
  int err = errno;
  close(mfd);
  if (fd < 0) return ThrowErrno(env, "open_by_handle_at", err);
  char link[64], path[PATH_MAX + 1];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, PATH_MAX);
  err = errno;
  close(fd);
  if (n < 0) return ThrowErrno(env, "readlink", err);
  return Napi::String::New(env, path, static_cast<size_t>(n));
}

Napi::Value Sigqueue(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "sigqueue(pid, sig, value)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  union sigval v;
  std::memset(&v, 0, sizeof v);
  v.sival_int = info[2].As<Napi::Number>().Int32Value();
  if (sigqueue(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), v) < 0)
    return ThrowErrno(env, "sigqueue", errno);
  return env.Undefined();
}

// userOf(uid): name, primary gid and every group of the user (getpwuid_r + getgrouplist, so
// through NSS like login's initgroups); null when the user database has no such uid.
Napi::Value UserOf(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "userOf(uid: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uid_t uid = info[0].As<Napi::Number>().Uint32Value();
  std::vector<char> buf(16384);
  struct passwd pw, *found = nullptr;
  int r;
  while ((r = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 24)) buf.resize(buf.size() * 2);
  if (r != 0 && r != ENOENT && r != ESRCH) return ThrowErrno(env, "getpwuid_r", r);
  if (!found) return env.Null();
  std::vector<gid_t> groups(64);
  int n = static_cast<int>(groups.size());
  while (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    if (n <= static_cast<int>(groups.size())) n = static_cast<int>(groups.size()) * 2;
    if (n > 65536) return ThrowErrno(env, "getgrouplist", E2BIG);
    groups.resize(static_cast<size_t>(n));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, pw.pw_name));
  o.Set("gid", Napi::Number::New(env, pw.pw_gid));
  Napi::Array g = Napi::Array::New(env, static_cast<size_t>(n));
  for (int i = 0; i < n; i++) g.Set(static_cast<uint32_t>(i), Napi::Number::New(env, groups[static_cast<size_t>(i)]));
  o.Set("groups", g);
  return o;
}

// exitNow(status): the process ends here (exit_group), without Node's teardown: no 'exit'
// event, no join of the platform's and libuv's threads, no atexit handlers. The caller has
// made sure nothing is left to write (src/cli/run.ts).
Napi::Value ExitNow(const Napi::CallbackInfo &info) {
  int status = info.Length() >= 1 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  _exit(status & 0xff);
}

// isatty(fd): whether fd is a terminal (isatty(3)), without node:tty (which loads node:net).
Napi::Value IsAtty(const Napi::CallbackInfo &info) {
  int fd = info.Length() >= 1 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  return Napi::Boolean::New(info.Env(), fd >= 0 && isatty(fd) == 1);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitRtYield(env, exports);  // under SCHED_FIFO/RR only: V8 spins for its worker threads otherwise
  InitFdScan(env, exports);
  InitLocks(env, exports);
  InitSmaps(env, exports);
  InitVmap(env, exports);
  InitSpawn(env, exports);
  InitPipes(env, exports);
  InitV8Heap(env, exports);
  InitMapFile(env, exports);
  exports.Set("isatty", Napi::Function::New(env, IsAtty));
  exports.Set("pathOfHandle", Napi::Function::New(env, PathOfHandle));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  exports.Set("kcmpFiles", Napi::Function::New(env, KcmpFiles));
  exports.Set("kcmpTasks", Napi::Function::New(env, KcmpTasks));
  exports.Set("kcmpEpollTarget", Napi::Function::New(env, KcmpEpollTarget));
  exports.Set("xcr0", Napi::Function::New(env, Xcr0));
  exports.Set("fdSymlinkTarget", Napi::Function::New(env, FdSymlinkTarget));
  exports.Set("sigqueue", Napi::Function::New(env, Sigqueue));
  exports.Set("userOf", Napi::Function::New(env, UserOf));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  return exports;
}

}  // namespace

NODE_API_MODULE(ucr_native, Init)
