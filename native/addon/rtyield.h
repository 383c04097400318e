// The yield of the event loop under a real-time policy (rtyield.cc).
#pragma once
#include <napi.h>

// Starts it when loaded under such a policy; rtYield() (again, after a change of policy).
void InitRtYield(Napi::Env env, Napi::Object exports);
