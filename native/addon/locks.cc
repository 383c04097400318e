// The addon's lockedInodes (described in addon.cc's header): the inodes /proc/locks names, for
// the checkpoint's fd scan (kernel/fd-prefetch.ts: an inherited fd's fdinfo is read for its
// locks only when its inode has one).
#include "locks.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

// lockedInodes(): the inode numbers /proc/locks names (a lock or a waiter on the inode: the
// "MAJ:MIN:INO" field, MAJ and MIN hex), read on a worker thread (a read of /proc/locks waits
// for an RCU grace period, ~10 ms); resolves to a Float64Array, or null when it cannot be read.
class LocksWorker : public Napi::AsyncWorker {
 public:
  explicit LocksWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    int f = open("/proc/locks", O_RDONLY | O_CLOEXEC);
    if (f < 0) return;
    std::string text;
    char buf[16384];
    ssize_t n;
    while ((n = read(f, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(f);
    if (n < 0) return;
    ok_ = true;
    // each space-separated field of the form hex:hex:decimal
    for (size_t at = 0; at < text.size();) {
      size_t end = text.find_first_of(" \n", at);
      if (end == std::string::npos) end = text.size();
      const char *p = text.data() + at, *e = text.data() + end;
      const char *c1 = static_cast<const char *>(memchr(p, ':', static_cast<size_t>(e - p)));
      const char *c2 = c1 ? static_cast<const char *>(memchr(c1 + 1, ':', static_cast<size_t>(e - c1 - 1))) : nullptr;
      auto all = [](const char *a, const char *b, int (*is)(int)) { return a < b && std::all_of(a, b, [is](char ch) { return is(static_cast<unsigned char>(ch)) != 0; }); };
      if (c2 && all(p, c1, isxdigit) && all(c1 + 1, c2, isxdigit) && all(c2 + 1, e, isdigit)) inos_.push_back(strtod(c2 + 1, nullptr));
      at = end + 1;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!ok_) {
      deferred_.Resolve(env.Null());
      return;
    }
    Napi::Float64Array a = Napi::Float64Array::New(env, inos_.size());
    std::copy(inos_.begin(), inos_.end(), a.Data());
    deferred_.Resolve(a);
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  bool ok_ = false;
  std::vector<double> inos_;
};

Napi::Value LockedInodes(const Napi::CallbackInfo &info) {
  LocksWorker *w = new LocksWorker(info.Env());
  Napi::Promise promise = w->Promise();
  w->Queue();
  return promise;
}

}  // namespace

void InitLocks(Napi::Env env, Napi::Object exports) { exports.Set("lockedInodes", Napi::Function::New(env, LockedInodes)); }
