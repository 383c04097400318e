// fdScan and fdScanBatch of ucr's addon (fdscan.cc; described in addon.cc's header).
#pragma once
#include <napi.h>

void InitFdScan(Napi::Env env, Napi::Object exports);
