// The addon's fd scans (listed in addon.cc's header): every fd of a process with its fdinfo (or
// the stat of its open file) as numbers, synchronously (fdScan) or for several processes on a
// worker thread of libuv's pool (fdScanBatch), which the checkpoint starts once the tree is
// frozen so the scan runs while the tasks are captured (kernel/fd-prefetch.ts).
#include "fdscan.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr int STRIDE = 11;
// withFacts: per fd the stat of its open file and where its link lies in links (dev, ino, mode,
// nlink, rdev, size, link start, link end), dev NaN when not taken (inherited, or gone)
constexpr int FACTS = 8;

struct Scan {
  std::vector<double> nums;
  std::string text;
  std::vector<double> facts;
  std::string links;
  int err = 0;
  const char *syscall = nullptr;
};

// The stat (through the fd's /proc link, as fs.statSync of it) and the link text of an fd, into
// out.facts; NaN when either fails or the link is longer than PATH_MAX (the caller takes them).
void factsOf(int dfd, const char *name, Scan &out) {
  double v[FACTS];
  std::fill(v, v + FACTS, std::nan(""));
  struct stat st;
  char link[PATH_MAX];
  ssize_t n = -1;
  if (fstatat(dfd, name, &st, 0) == 0 && (n = readlinkat(dfd, name, link, sizeof link)) >= 0 && static_cast<size_t>(n) < sizeof link) {
    double start = static_cast<double>(out.links.size());
    out.links.append(link, static_cast<size_t>(n));
    double f[FACTS] = {static_cast<double>(st.st_dev), static_cast<double>(st.st_ino), static_cast<double>(st.st_mode), static_cast<double>(st.st_nlink),
                       static_cast<double>(st.st_rdev), static_cast<double>(st.st_size), start, static_cast<double>(out.links.size())};
    std::copy(f, f + FACTS, v);
  }
  out.facts.insert(out.facts.end(), v, v + FACTS);
}

// The scan of one process: per fd 11 numbers (see addon.cc), the fdinfo texts back to back.
// ref > 0: slot 4 of an fd is 1 when kcmp finds it the same open file as ref's fd of that
// number; in a table of more than skipMin fds (0: never) such an fd's fdinfo is not read (an open
// of a /proc file, a read and a close: ~10 us per fd on some machines, where kcmp is one
// syscall): its flags and lock slots are -1, its mount and inode 0, its text empty (the caller
// has them from the parent's fd and the task's close-on-exec bits from its state:
// kernel/fd-prefetch.ts). An fd closed meanwhile is left out; a process that is gone sets err.
void scanOne(int pid, bool withInfo, int ref, Scan &out, bool withFacts = false, size_t skipMin = 0) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    out.err = errno, out.syscall = "open";
    return;
  }
  snprintf(path, sizeof path, "/proc/%d/fdinfo", pid);
  int ifd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ifd < 0) {
    out.err = errno, out.syscall = "open";
    close(dfd);
    return;
  }
  // the names from the directory whose files are opened next: with the fdinfo, fdinfo's (its
  // readdir makes the dentries the opens then find; /proc/PID/fd's would make a second set)
  DIR *d = fdopendir(withInfo ? ifd : dfd);
  if (!d) {
    out.err = errno, out.syscall = "fdopendir";
    close(dfd);
    close(ifd);
    return;
  }
  std::vector<int> fds;
  while (struct dirent *de = readdir(d))
    if (de->d_name[0] != '.') fds.push_back(atoi(de->d_name));
  std::sort(fds.begin(), fds.end());
  const bool skip = skipMin > 0 && fds.size() > skipMin;
  std::vector<double> &nums = out.nums;
  std::string &text = out.text;
  nums.reserve(fds.size() * STRIDE);
  char buf[16384];
  for (int fd : fds) {
    char name[16];
    snprintf(name, sizeof name, "%d", fd);
    // with the fdinfo, an fd is known by its mount and inode there (one open file has one
    // of each): no stat per fd (a third of the scan's time), the caller stats the few it needs
    struct stat st;
    memset(&st, 0, sizeof st);
    if (!withInfo && fstatat(dfd, name, &st, 0) < 0) continue;
    size_t mark = text.size();
    bool same = ref > 0 && withInfo && syscall(SYS_kcmp, ref, pid, KCMP_FILE, fd, fd) == 0;
    if (same && skip) {
      double v[STRIDE] = {static_cast<double>(fd), 0, 0, 0, 1, 0, 0, -1, static_cast<double>(mark), static_cast<double>(mark), -1};
      nums.insert(nums.end(), v, v + STRIDE);
      continue;
    }
    double flags = 0, locks = 0;
    bool hasIno = false;
    if (withInfo) {
      int f = openat(ifd, name, O_RDONLY | O_CLOEXEC);
      if (f < 0) continue;
      // fdinfo is one seq_file record (single_open): a read that does not fill the buffer had
      // all of it, so no second read to see the end (a quarter of the syscalls per fd)
      ssize_t n;
      while ((n = read(f, buf, sizeof buf)) > 0) {
        text.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf) break;
      }
      close(f);
      if (n < 0) {
        text.resize(mark);
        continue;
      }
      // "flags:\t<octal>" and any "lock:" line, at the start of a line
      for (size_t at = mark; at < text.size();) {
        const char *l = text.data() + at;
        size_t left = text.size() - at;
        if (left > 6 && !strncmp(l, "flags:", 6)) flags = static_cast<double>(strtoul(l + 6, nullptr, 8));
        else if (left > 5 && !strncmp(l, "lock:", 5)) locks = 1;
        else if (left > 7 && !strncmp(l, "mnt_id:", 7)) st.st_dev = static_cast<dev_t>(strtoul(l + 7, nullptr, 10));
        else if (left > 4 && !strncmp(l, "ino:", 4)) st.st_ino = static_cast<ino_t>(strtoull(l + 4, nullptr, 10)), hasIno = true;
        const void *nl = memchr(l, '\n', left);
        if (!nl) break;
        at = static_cast<size_t>(static_cast<const char *>(nl) - text.data()) + 1;
      }
      // a kernel without "ino:" in fdinfo (before 5.14): the inode from a stat, mount 0
      if (!hasIno) {
        if (fstatat(dfd, name, &st, 0) < 0) {
          text.resize(mark);
          continue;
        }
        st.st_dev = 0;
      }
    }
    // an fd that is not its parent's open file: the files capture makes an object of it, which
    // needs its stat and link (taken here, on the worker thread, instead of in JavaScript)
    // (NaN for the inherited fds before it; none at all for a table of inherited fds only, and
    // none for those after the last one that is not: a child's 400 inherited fds cost nothing)
    if (withFacts && !same) {
      out.facts.resize(nums.size() / STRIDE * FACTS, std::nan(""));
      factsOf(dfd, name, out);
    }
    double v[STRIDE] = {static_cast<double>(fd), static_cast<double>(st.st_dev), static_cast<double>(st.st_ino), static_cast<double>(st.st_mode),
                        withInfo ? (same ? 1 : 0) : static_cast<double>(st.st_nlink), static_cast<double>(st.st_rdev), static_cast<double>(st.st_size), flags,
                        static_cast<double>(mark), static_cast<double>(text.size()), locks};
    nums.insert(nums.end(), v, v + STRIDE);
  }
  closedir(d);
  close(withInfo ? dfd : ifd);
}

Napi::Value ThrowScanError(Napi::Env env, const Scan &s) {
  Napi::Error e = Napi::Error::New(env, std::string(s.syscall) + " failed: " + strerror(s.err));
  e.Set("errno", Napi::Number::New(env, s.err));
  e.Set("code", Napi::String::New(env, strerrorname_np(s.err) ? strerrorname_np(s.err) : "EUNKNOWN"));
  e.Set("syscall", Napi::String::New(env, s.syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// { nums, info }, or null when napi cannot make the string (then an exception is pending).
// nums is a view of into when the numbers fit in it (no new buffer), else an array of its own.
Napi::Value Result(Napi::Env env, Scan &s, Napi::Float64Array *into = nullptr) {
  Napi::Float64Array arr = into && into->ElementLength() >= s.nums.size()
                               ? Napi::Float64Array::New(env, s.nums.size(), into->ArrayBuffer(), into->ByteOffset())
                               : Napi::Float64Array::New(env, s.nums.size());
  std::copy(s.nums.begin(), s.nums.end(), arr.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("nums", arr);
  // latin1: one character per byte, so the offsets above are offsets in the string
  napi_value str;
  if (napi_create_string_latin1(env, s.text.data(), s.text.size(), &str) != napi_ok) {
    s.err = ENOMEM, s.syscall = "napi_create_string_latin1";
    return ThrowScanError(env, s);
  }
  out.Set("info", str);
  return out;
}

// fdScan(pid, info?, into?): see addon.cc. A process that is gone throws.
Napi::Value FdScan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  bool hasInto = info.Length() >= 3 && !info[2].IsUndefined();
  if (info.Length() < 1 || !info[0].IsNumber() ||
      (hasInto && (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array))) {
    Napi::TypeError::New(env, "fdScan(pid: number, info?: boolean, into?: Float64Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool withInfo = info.Length() < 2 || info[1].ToBoolean().Value();
  Scan s;
  scanOne(info[0].As<Napi::Number>().Int32Value(), withInfo, 0, s);
  if (s.err) return ThrowScanError(env, s);
  Napi::Float64Array into;
  if (hasInto) into = info[2].As<Napi::Float64Array>();
  return Result(env, s, hasInto ? &into : nullptr);
}

// fdScanBatch(pids, refs, skipMin?): fdScan with the fdinfo of each pid (kcmp against refs[i]
// when > 0; see scanOne for skipMin) on a worker thread; resolves to one entry per pid:
// { nums, info }, or { errno, code, syscall, message } for a process that is gone.
class BatchWorker : public Napi::AsyncWorker {
 public:
  BatchWorker(Napi::Env env, std::vector<int> pids, std::vector<int> refs, size_t skipMin)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), pids_(std::move(pids)), refs_(std::move(refs)), skipMin_(skipMin), scans_(pids_.size()) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    for (size_t i = 0; i < pids_.size(); i++) scanOne(pids_[i], true, refs_[i], scans_[i], true, skipMin_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, scans_.size());
    for (size_t i = 0; i < scans_.size(); i++) {
      Scan &s = scans_[i];
      if (s.err) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("errno", Napi::Number::New(env, s.err));
        e.Set("code", Napi::String::New(env, strerrorname_np(s.err) ? strerrorname_np(s.err) : "EUNKNOWN"));
        e.Set("syscall", Napi::String::New(env, s.syscall));
        e.Set("message", Napi::String::New(env, std::string(s.syscall) + " failed: " + strerror(s.err)));
        out.Set(static_cast<uint32_t>(i), e);
      } else {
        Napi::Value r = Result(env, s);
        if (env.IsExceptionPending()) {
          deferred_.Reject(env.GetAndClearPendingException().Value());
          return;
        }
        if (s.facts.empty()) {  // every fd inherited: nothing taken
          out.Set(static_cast<uint32_t>(i), r);
          s = Scan();
          continue;
        }
        Napi::Float64Array facts = Napi::Float64Array::New(env, s.facts.size());
        std::copy(s.facts.begin(), s.facts.end(), facts.Data());
        r.As<Napi::Object>().Set("facts", facts);
        napi_value links;
        if (napi_create_string_latin1(env, s.links.data(), s.links.size(), &links) != napi_ok) {
          deferred_.Reject(Napi::Error::New(env, "napi_create_string_latin1 failed").Value());
          return;
        }
        r.As<Napi::Object>().Set("links", Napi::Value(env, links));
        out.Set(static_cast<uint32_t>(i), r);
      }
      s = Scan();  // its memory goes as it is handed over
    }
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<int> pids_, refs_;
  size_t skipMin_;
  std::vector<Scan> scans_;
};

// fdScanOthers(skip): fdScan without the fdinfo of every process in /proc but those of skip, on
// a worker thread; resolves to { pids, starts, nums }: the numbers of pids[k] are nums from
// starts[k] * 11 to starts[k + 1] * 11 (or the end). Processes gone meanwhile are left out.
class OthersWorker : public Napi::AsyncWorker {
 public:
  OthersWorker(Napi::Env env, std::vector<int> skip) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), skip_(std::move(skip)) {
    std::sort(skip_.begin(), skip_.end());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    DIR *d = opendir("/proc");
    if (!d) return;
    // in the order of fs.readdirSync (libuv sorts the names with strcmp): the first outside
    // holder found is the one named, as when the main thread scanned them
    std::vector<std::string> names;
    while (struct dirent *de = readdir(d)) names.emplace_back(de->d_name);
    closedir(d);
    std::sort(names.begin(), names.end(), [](const std::string &a, const std::string &b) { return strcmp(a.c_str(), b.c_str()) < 0; });
    for (const std::string &name : names) {
      char *end;
      long pid = strtol(name.c_str(), &end, 10);
      if (*end || pid <= 0 || pid > INT_MAX || std::binary_search(skip_.begin(), skip_.end(), static_cast<int>(pid))) continue;
      Scan s;
      scanOne(static_cast<int>(pid), false, 0, s);
      if (s.err) continue;
      pids_.push_back(static_cast<double>(pid));
      starts_.push_back(static_cast<double>(nums_.size() / STRIDE));
      nums_.insert(nums_.end(), s.nums.begin(), s.nums.end());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    auto arr = [&](const std::vector<double> &v) {
      Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    Napi::Object out = Napi::Object::New(env);
    out.Set("pids", arr(pids_));
    out.Set("starts", arr(starts_));
    out.Set("nums", arr(nums_));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<int> skip_;
  std::vector<double> pids_, starts_, nums_;
};

Napi::Value FdScanOthers(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "fdScanOthers(skip: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<int> skip(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) skip[i] = a.Get(i).As<Napi::Number>().Int32Value();
  OthersWorker *w = new OthersWorker(env, std::move(skip));
  Napi::Promise promise = w->Promise();
  w->Queue();
  return promise;
}

Napi::Value FdScanBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "fdScanBatch(pids: number[], refs: number[], skipMin?: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array p = info[0].As<Napi::Array>(), r = info[1].As<Napi::Array>();
  if (p.Length() != r.Length()) {
    Napi::TypeError::New(env, "fdScanBatch: pids and refs differ in length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<int> pids(p.Length()), refs(p.Length());
  for (uint32_t i = 0; i < p.Length(); i++) {
    pids[i] = p.Get(i).As<Napi::Number>().Int32Value();
    refs[i] = r.Get(i).As<Napi::Number>().Int32Value();
  }
  size_t skipMin = info.Length() >= 3 && info[2].IsNumber() ? static_cast<size_t>(std::max(0, info[2].As<Napi::Number>().Int32Value())) : 0;
  BatchWorker *w = new BatchWorker(env, std::move(pids), std::move(refs), skipMin);
  Napi::Promise promise = w->Promise();
  w->Queue();
  return promise;
}

}  // namespace

void InitFdScan(Napi::Env env, Napi::Object exports) {
  exports.Set("fdScan", Napi::Function::New(env, FdScan));
  exports.Set("fdScanBatch", Napi::Function::New(env, FdScanBatch));
  exports.Set("fdScanOthers", Napi::Function::New(env, FdScanOthers));
}
