// mapFile of ucr's addon (mapfile.cc; described in addon.cc's header).
#pragma once
#include <napi.h>

void InitMapFile(Napi::Env env, Napi::Object exports);
