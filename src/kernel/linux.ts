/**
 * Linux constants the coordinator needs in more than one module (x86-64 values). The image's
 * own machine facts (PAGE_SIZE, TASK_END) are in src/image/format.ts; the helper's are in
 * native/helper/core/arch.h.
 */

export const O_CLOEXEC = 0o2000000;

/** An open file's status flags as a plan line carries them: close-on-exec belongs to the fd. */
export function openFileFlags(flags: number): number {
  return flags & ~O_CLOEXEC;
}
