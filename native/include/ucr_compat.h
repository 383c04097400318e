/* Kernel constants and structs that are newer than Debian 12's 6.1 headers (or that glibc
 * does not expose). Every definition is guarded so newer headers win. */
#ifndef UCR_COMPAT_H
#define UCR_COMPAT_H

#include <stdint.h>
#include <linux/types.h>

/* glibc's <sys/ptrace.h> has the request as an enum value but not the struct. */
#define UCR_PTRACE_GET_RSEQ_CONFIGURATION 0x420f
struct ucr_rseq_configuration {
	__u64 rseq_abi_pointer;
	__u32 rseq_abi_size;
	__u32 signature;
	__u32 flags;
	__u32 pad;
};

#ifndef RSEQ_FLAG_UNREGISTER
#define RSEQ_FLAG_UNREGISTER 1
#endif

#ifndef ARCH_MAP_VDSO_64
#define ARCH_MAP_VDSO_64 0x2003
#endif

#ifndef PR_SET_MM_MAP
#define PR_SET_MM 35
#define PR_SET_MM_MAP 14
#define PR_SET_MM_MAP_SIZE 15
#endif

/* struct prctl_mm_map (include/uapi/linux/prctl.h); 104 bytes on x86_64. */
struct ucr_prctl_mm_map {
	__u64 start_code, end_code, start_data, end_data;
	__u64 start_brk, brk, start_stack;
	__u64 arg_start, arg_end, env_start, env_end;
	__u64 auxv; /* pointer */
	__u32 auxv_size;
	__u32 exe_fd;
};

/* pagemap bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE_OR_SHARED_ANON (1ULL << 61)
#define PM_GUARD_REGION (1ULL << 58) /* a MADV_GUARD_INSTALL marker (Linux 6.15): no page */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN_MASK ((1ULL << 55) - 1)

/* PAGEMAP_SCAN (Linux 6.7) and uffd write-protect async (6.7): not in 6.1 headers. */
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN 0xc0606610 /* _IOWR('f', 16, struct pm_scan_arg) */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#endif
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8) /* a MADV_GUARD_INSTALL marker (Linux 6.15) */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* POSIX timer id restore (Linux 6.17): prctl(PR_TIMER_CREATE_RESTORE_IDS, ...) */
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#ifndef SYS_mseal
#define SYS_mseal 462 /* Linux 6.10 */
#endif
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2
#endif

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Kernel-internal syscall restart codes, visible to a tracer in rax. */
#define UCR_ERESTARTSYS 512
#define UCR_ERESTARTNOINTR 513
#define UCR_ERESTARTNOHAND 514
#define UCR_ERESTART_RESTARTBLOCK 516

/* struct sched_attr (sched_getattr/sched_setattr; glibc 2.36 has no wrapper) as of Linux 5.3 (SCHED_ATTR_SIZE_VER1) */
struct ucr_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

#endif
