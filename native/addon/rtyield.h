// The yield of the event loop under a real-time policy (rtyield.cc).
#pragma once
#include <napi.h>

void InitRtYield(Napi::Env env);
