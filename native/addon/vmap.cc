// vmapCheck and vmapPlan of ucr's addon (described in addon.cc's header): a task's packed
// mappings and page runs (image format 1.6, src/image/vma-pack.ts) checked and turned into the
// restart plan's `vmas` entries in one native loop each. In JavaScript these loops over 10,000
// entries ran cold, in the interpreter and then through a synchronous on-stack compile, for
// several ms each (src/image/packed-task.ts).
#include "vmap.h"

#include <cstdint>
#include <vector>

namespace {

constexpr uint64_t PAGE = 4096;
constexpr uint64_t TASK_END = 0x7ffffffff000ULL;  // src/image/format.ts
constexpr uint64_t MAX_SAFE = (1ULL << 53) - 1;
constexpr int MAP_PRIVATE_ = 0x02, MAP_ANONYMOUS_ = 0x20, MAP_GROWSDOWN_ = 0x100, MAP_NORESERVE_ = 0x4000;

inline uint64_t U64(const uint32_t *q, size_t at) { return q[at] | (uint64_t)q[at + 1] << 32; }

// vmapCheck(q, rest, rq, restAt) -> pages | -1. q: the packed entries' words (8 each); rest: the
// task's other mappings, validated, in address order, as (start, end, fill) triples; rq: the
// packed runs' words (4 each). -1 unless every check of unpackVmas and checkRuns passes (the
// caller then takes their path, which says what is wrong); else the runs' page count, and
// restAt[r] = how many packed entries come before rest entry r.
Napi::Value VmapCheck(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsTypedArray()) {
    Napi::TypeError::New(env, "vmapCheck(q, rest, rq, restAt)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Uint32Array qa = info[0].As<Napi::Uint32Array>(), rqa = info[2].As<Napi::Uint32Array>();
  Napi::Float64Array ra = info[1].As<Napi::Float64Array>();
  Napi::Int32Array at = info[3].As<Napi::Int32Array>();
  const uint32_t *q = qa.Data(), *rq = rqa.Data();
  const double *rest = ra.Data();
  size_t n = qa.ElementLength() / 8, nrest = ra.ElementLength() / 3, nruns = rqa.ElementLength() / 4;
  if (at.ElementLength() < nrest) return Napi::Number::New(env, -1);
  std::vector<uint64_t> ms, me;
  std::vector<uint8_t> mf;
  ms.reserve(n + nrest), me.reserve(n + nrest), mf.reserve(n + nrest);
  uint64_t prev = 0;
  size_t r = 0;
  auto other = [&](size_t k) {  // rest entry k into the merged list; false: out of order
    uint64_t s = (uint64_t)rest[3 * k], e = (uint64_t)rest[3 * k + 1];
    if (s < prev) return false;
    prev = e;
    ms.push_back(s), me.push_back(e), mf.push_back(rest[3 * k + 2] != 0);
    return true;
  };
  for (size_t i = 0; i < n; i++) {
    const uint32_t *x = q + 8 * i;
    uint64_t start = U64(x, 0), end = U64(x, 2), pgoff = U64(x, 4);
    uint32_t word = x[6], bits = word >> 24;
    if (start % PAGE || end % PAGE || end > TASK_END || end <= start) return Napi::Number::New(env, -1);
    if (pgoff > MAX_SAFE || (word & 0xffff) > 0x3fff || ((word >> 16) & 0xff) > 7 || bits >> 2 > 2 || bits >> 4 || x[7]) return Napi::Number::New(env, -1);
    while (r < nrest && rest[3 * r] < (double)start) {
      at[r] = (int32_t)i;
      if (!other(r++)) return Napi::Number::New(env, -1);
    }
    if (start < prev) return Napi::Number::New(env, -1);
    prev = end;
    ms.push_back(start), me.push_back(end), mf.push_back((bits & 2) != 0);
  }
  for (; r < nrest; r++) {
    at[r] = (int32_t)n;
    if (!other(r)) return Napi::Number::New(env, -1);
  }
  // the runs: in order, page aligned, each inside a mapping that carries pages
  uint64_t runEnd = 0, pages = 0;
  size_t v = 0, m = ms.size();
  for (size_t i = 0; i < nruns; i++) {
    uint64_t s = U64(rq, 4 * i), c = U64(rq, 4 * i + 2);
    if (s > TASK_END || s % PAGE || c < 1 || c > TASK_END / PAGE || s < runEnd) return Napi::Number::New(env, -1);
    uint64_t end = s + c * PAGE;
    while (v < m && me[v] <= s) v++;
    if (v >= m || s < ms[v] || end > me[v] || !mf[v]) return Napi::Number::New(env, -1);
    runEnd = end;
    pages += c;
  }
  return Napi::Number::New(env, (double)pages);
}

// vmapPlan(q, from, to, out, outAt, dp, nr) -> index: packed entries from `from` on as the plan's
// `vmas` entries (10 words: start, end, pgoff as u64, prot, flags, madv, fill; restore-plan.ts
// PlainVmas) into out from entry outAt, while they are plain private ones (not shared, without
// MADV bit dp: those take a `vma` line), up to `to` or out's end; the index it stopped at.
Napi::Value VmapPlan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsTypedArray() || !info[3].IsTypedArray()) {
    Napi::TypeError::New(env, "vmapPlan(q, from, to, out, outAt, dp, nr)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Uint32Array qa = info[0].As<Napi::Uint32Array>(), oa = info[3].As<Napi::Uint32Array>();
  const uint32_t *q = qa.Data();
  uint32_t *out = oa.Data();
  size_t n = qa.ElementLength() / 8, room = oa.ElementLength() / 10;
  size_t i = (size_t)info[1].As<Napi::Number>().Int64Value(), to = (size_t)info[2].As<Napi::Number>().Int64Value();
  size_t o = (size_t)info[4].As<Napi::Number>().Int64Value();
  uint32_t dp = info[5].As<Napi::Number>().Uint32Value(), nr = info[6].As<Napi::Number>().Uint32Value();
  if (to > n) to = n;
  for (; i < to && o < room; i++, o++) {
    const uint32_t *x = q + 8 * i;
    uint32_t word = x[6], madv = word & 0xffff, bits = word >> 24;
    if ((madv & dp) || (bits & 1)) break;
    uint32_t flags = MAP_PRIVATE_ | MAP_ANONYMOUS_;
    if (bits >> 2 == 2) flags |= MAP_GROWSDOWN_;
    if (madv & nr) flags |= MAP_NORESERVE_;
    uint32_t *y = out + 10 * o;
    for (int k = 0; k < 6; k++) y[k] = x[k];
    y[6] = (word >> 16) & 0xff;
    y[7] = flags;
    y[8] = madv;
    y[9] = (bits >> 1) & 1;
  }
  return Napi::Number::New(env, (double)i);
}

}  // namespace

void InitVmap(Napi::Env env, Napi::Object exports) {
  exports.Set("vmapCheck", Napi::Function::New(env, VmapCheck));
  exports.Set("vmapPlan", Napi::Function::New(env, VmapPlan));
}
