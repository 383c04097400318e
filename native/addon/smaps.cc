// smapsScan(buf, len): the mappings of a /proc/PID/smaps text, in one call (src/kernel/smaps.ts:
// 10,000 mappings took a native search each, and their parsing in cold JavaScript, ~2.5 us a
// mapping). { maps, texts }: per mapping SMAPS_NUMS numbers, start, end, pgoff, ino (computed in
// doubles digit by digit, as the JavaScript parser computes them), then the numbers of its
// perms, its device field, its path and the text after "VmFlags:" among the distinct texts of
// the file; texts: where each distinct text starts and ends. null when a block is not what the
// fast parser takes (a first line that is not a maps line, no VmFlags line, a VmFlags line
// that is not the block's last, a line before it that begins like a maps line): the caller
// then parses the text line by line.
#include "smaps.h"

#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr int SMAPS_NUMS = 8;

bool IsHex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// the lower-case hex number at *i (1 to 16 digits) before nl; *i: the byte after it
bool HexAt(const unsigned char *t, size_t *i, size_t nl, double *v) {
  size_t from = *i, k = *i;
  double x = 0;
  for (; k < nl && IsHex(t[k]); k++) x = x * 16 + (t[k] <= '9' ? t[k] - '0' : t[k] - 'a' + 10);
  *i = k;
  *v = x;
  return k > from && k - from <= 16;
}

// the maps line t[at, nl) into out[0..8]; false when it is not one (smaps.ts mapsHead)
bool MapsHead(const unsigned char *t, size_t at, size_t nl, double *out) {
  size_t i = at;
  if (!HexAt(t, &i, nl, &out[0]) || i >= nl || t[i++] != '-') return false;
  if (!HexAt(t, &i, nl, &out[1]) || i >= nl || t[i++] != ' ') return false;
  if (i + 4 >= nl) return false;
  for (size_t k = i; k < i + 4; k++)
    if (t[k] == ' ' || t[k] == '\n') return false;
  out[4] = (double)i;
  i += 4;
  if (t[i++] != ' ') return false;
  if (!HexAt(t, &i, nl, &out[2]) || i >= nl || t[i++] != ' ') return false;
  size_t sp = i;
  while (sp < nl && t[sp] != ' ') sp++;
  if (sp >= nl || sp == i) return false;
  out[5] = (double)i;
  out[6] = (double)sp;
  i = sp + 1;
  double ino = 0;
  size_t from = i;
  for (; i < nl && t[i] >= '0' && t[i] <= '9'; i++) ino = ino * 10 + (t[i] - '0');
  if (i == from || (i < nl && t[i] != ' ')) return false;
  out[3] = ino;
  while (i < nl && (t[i] == ' ' || t[i] == '\t')) i++;
  out[7] = (double)i;
  out[8] = (double)nl;
  return true;
}

// the texts of a scan, each once: its number, by its bytes
struct Texts {
  const unsigned char *t;
  std::unordered_map<std::string_view, uint32_t> ids;
  std::vector<double> at;  // from, to of each distinct text
  double Id(size_t from, size_t to) {
    std::string_view k((const char *)t + from, to - from);
    auto it = ids.find(k);
    if (it != ids.end()) return it->second;
    uint32_t id = (uint32_t)(at.size() / 2);
    ids.emplace(k, id);
    at.push_back((double)from);
    at.push_back((double)to);
    return id;
  }
};

Napi::Value SmapsScan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "smapsScan(buf, len)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
  size_t len = (size_t)info[1].As<Napi::Number>().Int64Value();
  if (len > a.ByteLength()) len = a.ByteLength();
  const unsigned char *t = a.Data();
  static const char VMFLAGS[] = "\nVmFlags:";
  const size_t VL = sizeof VMFLAGS - 1;
  Texts texts{t, {}, {}};
  std::vector<double> nums;
  nums.reserve(SMAPS_NUMS * (len / 600 + 1));
  double m[9];
  for (size_t at = 0; at < len;) {
    const unsigned char *e = (const unsigned char *)memchr(t + at, '\n', len - at);
    size_t nl = e ? (size_t)(e - t) : len;
    if (!MapsHead(t, at, nl, m)) return env.Null();
    const void *j = memmem(t + nl, len - nl, VMFLAGS, VL);
    if (!j) return env.Null();
    size_t fs = (size_t)((const unsigned char *)j - t) + VL;
    // no line of the block before it may look like a mapping's first line (a block without
    // VmFlags would otherwise take the next one's)
    for (const unsigned char *p = t + nl, *q = (const unsigned char *)j; p < q;) {
      if (IsHex(p[1])) return env.Null();
      p = (const unsigned char *)memchr(p + 1, '\n', (size_t)(q - p - 1));
      if (!p) break;
    }
    const unsigned char *f = (const unsigned char *)memchr(t + fs, '\n', len - fs);
    size_t fe = f ? (size_t)(f - t) : len;
    at = fe + 1;
    if (at < len && !IsHex(t[at])) return env.Null();
    size_t perms = (size_t)m[4];
    double out[SMAPS_NUMS] = {m[0], m[1], m[2], m[3], texts.Id(perms, perms + 4), texts.Id((size_t)m[5], (size_t)m[6]),
                              texts.Id((size_t)m[7], (size_t)m[8]), texts.Id(fs, fe)};
    nums.insert(nums.end(), out, out + SMAPS_NUMS);
  }
  Napi::Float64Array maps = Napi::Float64Array::New(env, nums.size());
  if (!nums.empty()) memcpy(maps.Data(), nums.data(), nums.size() * sizeof(double));
  Napi::Float64Array at = Napi::Float64Array::New(env, texts.at.size());
  if (!texts.at.empty()) memcpy(at.Data(), texts.at.data(), texts.at.size() * sizeof(double));
  Napi::Object o = Napi::Object::New(env);
  o.Set("maps", maps);
  o.Set("texts", at);
  return o;
}

}  // namespace

void InitSmaps(Napi::Env env, Napi::Object exports) { exports.Set("smapsScan", Napi::Function::New(env, SmapsScan)); }
