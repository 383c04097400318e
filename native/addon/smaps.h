// smapsScan of ucr's addon (smaps.cc; described in addon.cc's header).
#pragma once
#include <napi.h>

void InitSmaps(Napi::Env env, Napi::Object exports);
