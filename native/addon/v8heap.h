// setV8Flags and heapSpaceSizes (v8heap.cc).
#pragma once
#include <napi.h>

void InitV8Heap(Napi::Env env, Napi::Object exports);
