// lockedInodes of ucr's addon (locks.cc; described in addon.cc's header).
#pragma once
#include <napi.h>

void InitLocks(Napi::Env env, Napi::Object exports);
