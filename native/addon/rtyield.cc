// Real-time scheduling and V8's background threads (addon.cc's Init installs it; docs/performance.md,
// "Real-time scheduling").
//
// Under SCHED_FIFO (`chrt -f`) a thread runs until it blocks or yields; the threads of equal
// priority on its CPU do not run before that. Node's V8 (11.3, Node 20) can spin on the main
// thread for such a thread: after a full GC, the cppgc sweeper's foreground task runs, finds the
// concurrent sweeping job (queued to V8's worker threads) not done, and posts itself again at
// once (no delay), so the event loop polls with a zero timeout and never blocks; the workers,
// of the same priority, never get the CPU: the command spun until killed (seen on one CPU, and
// on two CPUs each taken by such a command). When the process runs under a real-time policy,
// a libuv prepare handle yields the CPU once per turn of the event loop, before it polls: the
// runnable threads of equal priority (V8's workers, the libuv pool, the helper) run first.
// Nothing is installed under the ordinary policies (there a timeslice ends any spin).
#include "rtyield.h"

#include <sched.h>
#include <uv.h>

namespace {

uv_prepare_t yielder;
bool installed = false;

void YieldTurn(uv_prepare_t *) { sched_yield(); }

// Starts the yield when the calling thread runs under SCHED_FIFO or SCHED_RR (once); true when
// it runs.
bool StartRtYield(napi_env env) {
  if (installed) return true;
  int policy = sched_getscheduler(0);
  if (policy < 0) return false;
  policy &= ~SCHED_RESET_ON_FORK;
  if (policy != SCHED_FIFO && policy != SCHED_RR) return false;
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return false;
  if (uv_prepare_init(loop, &yielder) || uv_prepare_start(&yielder, YieldTurn)) return false;
  uv_unref(reinterpret_cast<uv_handle_t *>(&yielder));  // does not keep the loop alive
  installed = true;
  return true;
}

Napi::Value RtYield(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), StartRtYield(info.Env())); }

}  // namespace

void InitRtYield(Napi::Env env, Napi::Object exports) {
  StartRtYield(env);
  exports.Set("rtYield", Napi::Function::New(env, RtYield));
}
