/* The x86-64 Linux facts the helper relies on, in one place (the TypeScript side's are in
 * src/image/format.ts: PAGE_SIZE, TASK_END). Nothing else of the machine may be assumed: what
 * differs between machines (xstate size, CPU features) is what the image records. */
#ifndef UCR_ARCH_H
#define UCR_ARCH_H

#define PAGE_SZ 4096UL
/* the end of user space (TASK_SIZE with 4-level paging, less the guard page): every mapping of
 * a task lies below it */
#define TASK_END 0x7ffffffff000ULL
/* the 47-bit user address space: /proc/PID/maps lines at or above it are the vsyscall page */
#define USER_END 0x800000000000ULL
/* a raw system call's return value that is an error (-errno: -4095..-1, the kernel's MAX_ERRNO) */
#define SYSCALL_FAILED(r) ((r) < 0 && (r) > -4096)
/* x is a multiple of the page size */
#define PAGED(x) (!((x) % PAGE_SZ))
#endif
