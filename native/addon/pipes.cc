// The helper's pipes read and written from the event loop without node:net (addon.cc's Init
// installs them; src/kernel/helper.ts uses them). A net.Socket per pipe cost every command the
// stream modules (node:net loads node:stream and a dozen modules under it: ~1.5 ms of its main
// thread) for three pipes that only carry lines; see docs/performance.md, "Seventeenth session".
//   pipeRead(fd, cb)   -> undefined
//       cb(chunk, n) from the event loop for what each read(2) of fd gave (chunk's first n
//       bytes: a new Buffer each time), then cb(null, errno) once at the end (errno 0: EOF);
//       fd is closed then. The poll keeps the event loop alive until the end, as a reading
//       socket does.
//   pipeWrite(fd, cb)  -> { write(buf) -> queued bytes, end(), destroy() }
//       write() writes what the pipe takes at once and keeps the rest (copied) to write when
//       fd is writable again; it returns the bytes still kept. cb('drain', 0) once all kept
//       bytes are written; end() closes fd once they are, destroy() at once (the kept bytes
//       are dropped); cb('close', errno) on the next turn of the loop after fd is closed (errno
//       of the write that failed, EPIPE when the reader is gone, else 0). Writes after that are
//       dropped.
// fd is made non-blocking (libuv's poll does it); the process's other ends of the pipe are not
// affected (the helper's ends are its own open files).
#include "pipes.h"
#include "fd_watch.h"
#include "js_call.h"
#include "throw_errno.h"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

namespace {

constexpr size_t kReadMax = 16u << 20;

// ---- reading ----

struct Reader : FdWatch {};

void ReaderClosed(uv_handle_t *h) { delete static_cast<Reader *>(h->data); }

void ReaderPolled(uv_poll_t *p, int, int) {
  Reader *r = static_cast<Reader *>(p->data);
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  int avail = 0;
  if (ioctl(r->fd, FIONREAD, &avail) < 0) avail = 0;
  // what the pipe holds, in one Buffer; with nothing to read this is the end (or a spurious
  // wake-up, or bytes that came meanwhile: a small read tells them apart)
  size_t size = avail > 0 ? std::min(static_cast<size_t>(avail), kReadMax) : 4096;
  Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::New(env, size);
  ssize_t n;
  do
    n = read(r->fd, b.Data(), size);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n > 0) {
    CallFromLoop(r->env, r->cb, {b, Napi::Number::New(env, static_cast<double>(n))});
    return;
  }
  int err = n < 0 ? errno : 0;
  // the fd is closed before the callback hears of the end (a stopped poll no longer watches it)
  uv_poll_stop(p);
  close(r->fd);
  r->fd = -1;
  CallFromLoop(r->env, r->cb, {env.Null(), Napi::Number::New(env, err)});
  r->cb.Reset();
  uv_close(reinterpret_cast<uv_handle_t *>(p), ReaderClosed);
}

Napi::Value PipeRead(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Reader *r = NewFdWatch<Reader>(info, "pipeRead(fd, cb)");
  if (!r) return env.Undefined();
  int e = uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, ReaderPolled);
  if (e != 0) {
    // the fd stays the caller's: only the handle goes
    uv_close(reinterpret_cast<uv_handle_t *>(&r->poll), ReaderClosed);
    return ThrowErrno(env, "uv_poll_start", -e);
  }
  return env.Undefined();
}

// ---- writing ----

struct Writer : FdWatch {
  std::deque<std::string> kept; // bytes not written yet, in order; the first from `off` on
  size_t off = 0;
  size_t queued = 0;
  bool polling = false;
  bool ending = false;
  bool closing = false; // uv_close called: no more writes
  bool closed = false;  // the handle and fd are closed
  bool jsGone = false;  // the JavaScript object is collected
  int err = 0;
};

void WriterFree(Writer *w) {
  if (w->closed && w->jsGone) delete w;
}

void WriterClosed(uv_handle_t *h) {
  Writer *w = static_cast<Writer *>(h->data);
  w->closed = true;
  if (!w->cb.IsEmpty()) {
    Napi::Env env(w->env);
    Napi::HandleScope scope(env);
    CallFromLoop(w->env, w->cb, {Napi::String::New(env, "close"), Napi::Number::New(env, w->err)});
    w->cb.Reset();
  }
  WriterFree(w);
}

void WriterClose(Writer *w, int err) {
  if (w->closing) return;
  w->closing = true;
  w->err = err;
  w->kept.clear();
  w->queued = 0;
  // the fd is closed at once (a stopped poll no longer watches it): the reader sees EOF now;
  // 'close' is said from the handle's close, on a later turn of the loop
  uv_poll_stop(&w->poll);
  close(w->fd);
  w->fd = -1;
  uv_close(reinterpret_cast<uv_handle_t *>(&w->poll), WriterClosed);
}

// Writes what is kept while the pipe takes it: 0, EAGAIN (the rest waits), or the errno.
int WriterFlush(Writer *w) {
  while (!w->kept.empty()) {
    std::string &s = w->kept.front();
    ssize_t n = write(w->fd, s.data() + w->off, s.size() - w->off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EWOULDBLOCK ? EAGAIN : errno;
    }
    w->off += static_cast<size_t>(n);
    w->queued -= static_cast<size_t>(n);
    if (w->off == s.size()) {
      w->kept.pop_front();
      w->off = 0;
    }
  }
  return 0;
}

void WriterPolled(uv_poll_t *p, int, int) {
  Writer *w = static_cast<Writer *>(p->data);
  int e = WriterFlush(w);
  if (e == EAGAIN) return;
  if (e) return WriterClose(w, e);
  uv_poll_stop(p);
  w->polling = false;
  if (w->ending) return WriterClose(w, 0);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  CallFromLoop(w->env, w->cb, {Napi::String::New(env, "drain"), Napi::Number::New(env, 0)});
}

Writer *WriterOf(const Napi::CallbackInfo &info) { return static_cast<Writer *>(info.Data()); }

Napi::Value WriterWrite(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Writer *w = WriterOf(info);
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "write(buf)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (w->closing || w->ending) return Napi::Number::New(env, 0);
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  const char *data = reinterpret_cast<const char *>(a.Data());
  size_t len = a.ByteLength(), done = 0;
  if (w->kept.empty()) {
    while (done < len) {
      ssize_t n = write(w->fd, data + done, len - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        WriterClose(w, errno);
        return Napi::Number::New(env, 0);
      }
      done += static_cast<size_t>(n);
    }
  }
  if (done < len) {
    w->kept.emplace_back(data + done, len - done);
    w->queued += len - done;
    if (!w->polling) {
      int e = uv_poll_start(&w->poll, UV_WRITABLE, WriterPolled);
      if (e != 0) {
        WriterClose(w, -e);
        return Napi::Number::New(env, 0);
      }
      w->polling = true;
    }
  }
  return Napi::Number::New(env, static_cast<double>(w->queued));
}

Napi::Value WriterEnd(const Napi::CallbackInfo &info) {
  Writer *w = WriterOf(info);
  w->ending = true;
  if (w->kept.empty()) WriterClose(w, 0);
  return info.Env().Undefined();
}

Napi::Value WriterDestroy(const Napi::CallbackInfo &info) {
  WriterClose(WriterOf(info), 0);
  return info.Env().Undefined();
}

void WriterCollected(Napi::Env, Writer *w) {
  w->jsGone = true;
  // nothing can write any more: what is kept still goes, then the fd is closed
  if (!w->closing) {
    w->ending = true;
    if (w->kept.empty()) WriterClose(w, 0);
  }
  WriterFree(w);
}

Napi::Value PipeWrite(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Writer *w = NewFdWatch<Writer>(info, "pipeWrite(fd, cb)");
  if (!w) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("write", Napi::Function::New(env, WriterWrite, "write", w));
  o.Set("end", Napi::Function::New(env, WriterEnd, "end", w));
  o.Set("destroy", Napi::Function::New(env, WriterDestroy, "destroy", w));
  o.AddFinalizer(WriterCollected, w);
  return o;
}

}  // namespace

void InitPipes(Napi::Env env, Napi::Object exports) {
  exports.Set("pipeRead", Napi::Function::New(env, PipeRead));
  exports.Set("pipeWrite", Napi::Function::New(env, PipeWrite));
}
