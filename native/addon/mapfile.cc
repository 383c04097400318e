// mapFile of ucr's addon (described in addon.cc's header): a file's bytes as the page cache holds
// them, mapped instead of read. bin/ucr maps the bundle and its code cache this way at every
// command's start: reading them copied ~2 MB into fresh memory twice over (a Buffer, then the
// source as a V8 string), ~1.3 ms of page faults and copies (docs/performance.md, eighteenth
// session). The file must not be rewritten in place while mapped (V8 takes an external string's
// text as immutable): scripts/bundle.mjs replaces dist/ucr.cjs and its cache by rename.
#include <napi.h>

#include <cerrno>
#include <dlfcn.h>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapfile.h"
#include "throw_errno.h"

namespace {

struct Mapping {
  void *addr;
  size_t len;
};

void Unmap(napi_env, void *, void *hint) {
  auto *m = static_cast<Mapping *>(hint);
  munmap(m->addr, m->len);
  delete m;
}

// node_api_create_external_string_latin1 (Node >= 20.4, experimental there): looked up at run
// time so that a Node without it still loads the addon (the text is then copied)
using ExternalLatin1 = napi_status (*)(napi_env, char *, size_t, void (*)(napi_env, void *, void *), void *, napi_value *, bool *);

ExternalLatin1 externalLatin1() {
  static ExternalLatin1 fn = reinterpret_cast<ExternalLatin1>(dlsym(RTLD_DEFAULT, "node_api_create_external_string_latin1"));
  return fn;
}

// mapFile(path, latin1) -> Buffer | string: the regular file's bytes, mapped read-only (private,
// populated at once from the page cache); latin1: as a string of those bytes (an external V8
// string over the mapping), else a Buffer over it. Unmapped when V8 lets the value go.
Napi::Value MapFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "mapFile(path, latin1): path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool latin1 = info.Length() >= 2 && info[1].ToBoolean().Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return ThrowErrno(env, "open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, "fstat", e);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return ThrowErrno(env, "mmap", S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  }
  size_t len = static_cast<size_t>(st.st_size);
  if (len == 0) {
    close(fd);
    return latin1 ? Napi::Value(Napi::String::New(env, "")) : Napi::Value(Napi::Buffer<char>::New(env, 0));
  }
  void *addr = mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) return ThrowErrno(env, "mmap", e);
  auto *m = new Mapping{addr, len};
  if (!latin1) return Napi::Buffer<char>::New(env, static_cast<char *>(addr), len, [](Napi::Env, char *, Mapping *mp) { Unmap(nullptr, nullptr, mp); }, m);
  napi_value out = nullptr;
  bool copied = true;
  ExternalLatin1 ext = externalLatin1();
  if (ext && ext(env, static_cast<char *>(addr), len, Unmap, m, &out, &copied) == napi_ok && out) {
    if (copied) Unmap(env, nullptr, m);  // V8 made its own string (a short one): the mapping is not needed
    return Napi::Value(env, out);
  }
  napi_status st2 = napi_create_string_latin1(env, static_cast<const char *>(addr), len, &out);
  Unmap(env, nullptr, m);
  if (st2 != napi_ok) {
    Napi::Error::New(env, "mapFile: cannot make the string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Value(env, out);
}

}  // namespace

void InitMapFile(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
}
