// pipeRead and pipeWrite (pipes.cc).
#pragma once
#include <napi.h>

void InitPipes(Napi::Env env, Napi::Object exports);
