// vmapCheck and vmapPlan of ucr's addon (vmap.cc; described in addon.cc's header).
#pragma once
#include <napi.h>

void InitVmap(Napi::Env env, Napi::Object exports);
