/* What the two files of the lanes share (pages_lanes.c: the walk and the worker; lanes_records.c:
 * a record through the mapping, small records in groups). Private to them. */
#ifndef UCR_LANES_INT_H
#define UCR_LANES_INT_H
#include <sys/types.h>

#include "pages_lanes.h"

struct job {
	struct pages_hdr h;
	uint64_t at;   /* file offset of the record's data (after the header) */
	uint64_t dest; /* where the pages go in the task */
	uint32_t crc;  /* the frame's checksum */
	pid_t pid;
};
enum { L_OK, L_READ, L_SHORT, L_CRC, L_FILL };
struct verdict {
	int code, err;
	uint64_t addr; /* the record's address (L_CRC) or the page's (L_FILL) */
	pid_t pid;
};

/* A group of small task page records that lie one after the other in the file, [lo, hi): one
 * pread for all of them instead of a mapping's populate and unmap per record. Sent to the
 * worker whole (under PIPE_BUF: one atomic write) or done by the helper from its window. */
#define GROUP_MAX 96 /* more than a window holds (4 KiB records): one write under PIPE_BUF */
#define GROUP_WIN (256UL << 10)         /* the helper's read-ahead window, and a group's most */
#define GROUP_RECORD (64UL << 10)       /* a record of at most this many data bytes is small */
struct group {
	uint32_t n;
	uint32_t big; /* 1: one record, read through the mapping (j[0]) */
	uint64_t lo, hi;
	struct job j[GROUP_MAX];
};

#include <signal.h>
typedef int (*lane_put)(const struct page_sink *, const struct job *, uint64_t, const unsigned char *, size_t);
extern const unsigned char *img; /* the image file, mapped whole (read-only, shared) */
extern size_t img_len;
extern int img_fd;
void on_bus(int sig, siginfo_t *si, void *uc); /* SIGBUS in the mapping: the record is cut short */
/* One record through the mapping: pieces checksummed where they are mapped, put, unmapped again. */
int lane_record(const struct job *j, const struct page_sink *sink, lane_put put, struct verdict *v);
void cut_image(uint64_t at);
int cut_before(uint64_t off);
long pread_full(int fd, void *buf, size_t len, uint64_t at);
/* The group's records from buf, which holds the file's bytes [g->lo, g->hi): checksums, then puts. */
int group_from(const struct group *g, const unsigned char *buf, const struct page_sink *sink, lane_put put,
	       struct verdict *v);
/* The worker's side: the group read from the file first. */
int group_read(const struct group *g, const struct page_sink *sink, lane_put put, struct verdict *v);
#endif
