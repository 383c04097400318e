/* A packet socket's memory-mapped rings (PACKET_RX_RING, PACKET_TX_RING; TPACKET_V1/V2), made
 * again by the helper with the saved configuration, and the `pktring` plan line: the task maps
 * them again at their address from the helper's fd of the socket (restore_map.c). The kernel's
 * position in the receive ring (the frame it fills next) cannot be set: it starts at frame 0,
 * while the program waits at the frame after the last one it read. So the helper moves it:
 * bound for a moment to lo with a protocol of its own (0x88b6, local experimental), it sends
 * itself that many frames through a second packet socket, sees them arrive in its own mapping
 * of the ring, gives the frames back to the kernel (TP_STATUS_KERNEL) and clears the counters
 * (PACKET_STATISTICS); the real bind follows (restore_rawsock.c). Frames queued unread at
 * checkpoint are dropped (docs/kinds-rawsock.md). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch.h"
#include "kind.h"
#include "plan_parse.h"
#include "proto.h"
#include "rawsock.h"
#include "restore.h"

#define RING_PROTO 0x88b6
#define RING_BYTES_MAX (1ULL << 30)
#define RING_BATCH 256

int on_plan_pktring(struct plan_in *in, struct msg_plan_pktring *m)
{
	TASK(t);
	NEED(m->start < m->end && !(m->start % PAGE_SZ) && !(m->end % PAGE_SZ));
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_RAWSOCK);
	const struct rawsock_plan *r = in->p->files[f].rs;
	uint64_t size = (uint64_t)r->rx.tp_block_size * r->rx.tp_block_nr + (uint64_t)r->tx.tp_block_size * r->tx.tp_block_nr;
	NEED(size && m->end - m->start == size);
	struct vma_plan *v = GROW(t->vmas, t->nvmas);
	NEED(v != NULL);
	*v = (struct vma_plan){ .start = m->start, .end = m->end, .prot = (int)m->prot, .flags = MAP_SHARED, .ring = f + 1, .obj = -1, .fd = -1 };
	return 0;
}

/* tp_status of frame i: an unsigned long (V1) or a u32 (V2), little-endian: its low word */
static uint32_t *status_of(unsigned char *ring, const struct tpacket_req *r, unsigned i)
{
	unsigned per = r->tp_block_size / r->tp_frame_size;
	return (uint32_t *)(ring + (size_t)(i / per) * r->tp_block_size + (size_t)(i % per) * r->tp_frame_size);
}

/* Moves the kernel's position in the receive ring to frame `head` (see the top). */
static int advance(int s, const struct rawsock_plan *p, const char *obj)
{
	size_t rx = (size_t)p->rx.tp_block_size * p->rx.tp_block_nr, tx = (size_t)p->tx.tp_block_size * p->tx.tp_block_nr;
	int lo = (int)if_nametoindex("lo");
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(RING_PROTO), .sll_ifindex = lo, .sll_halen = 6 };
	if (!lo || bind(s, (struct sockaddr *)&a, sizeof a) < 0)
		return proto_fail_sys("bind", "files", obj, errno, "cannot bind the packet socket to lo to move its receive ring to frame %u", p->rxhead);
	unsigned char *m = mmap(NULL, rx + tx, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	if (m == MAP_FAILED)
		return proto_fail_sys("mmap", "files", obj, errno, "cannot map the packet socket's rings");
	int tmp = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(RING_PROTO)), err = 0;
	static const char frame[] = "ucr: moving a packet ring";
	if (tmp < 0)
		err = errno;
	/* in batches well below lo's backlog (netdev_max_backlog): each frame must arrive, in order
	 * (loopback delivers them through a softirq: wait for the batch's last, bounded) */
	for (unsigned from = 0; !err && from < p->rxhead; from += RING_BATCH) {
		unsigned to = p->rxhead - from > RING_BATCH ? from + RING_BATCH : p->rxhead;
		for (unsigned i = from; !err && i < to; i++)
			if (sendto(tmp, frame, sizeof frame, 0, (struct sockaddr *)&a, sizeof a) < 0)
				err = errno;
		for (int tries = 0; !err && !(*status_of(m, &p->rx, to - 1) & TP_STATUS_USER); tries++) {
			struct pollfd pf = { s, POLLIN, 0 };
			if (tries == 1000)
				err = ETIMEDOUT;
			else
				poll(&pf, 1, 1);
		}
		for (unsigned i = from; !err && i < to; i++)
			if (!(*status_of(m, &p->rx, i) & TP_STATUS_USER))
				err = EAGAIN; /* a frame was dropped on the way */
	}
	for (unsigned i = 0; !err && i < p->rxhead; i++)
		*status_of(m, &p->rx, i) = TP_STATUS_KERNEL;
	if (tmp >= 0)
		close(tmp);
	__sync_synchronize();
	munmap(m, rx + tx);
	struct tpacket_stats st;
	socklen_t l = sizeof st;
	getsockopt(s, SOL_PACKET, PACKET_STATISTICS, &st, &l); /* reading clears the counters */
	if (err)
		return proto_fail("files", obj, err, "cannot move the packet socket's receive ring to frame %u", p->rxhead);
	return 0;
}

int rawsock_rings(int s, const struct rawsock_plan *p, const char *obj)
{
	if ((uint64_t)p->rx.tp_block_size * p->rx.tp_block_nr + (uint64_t)p->tx.tp_block_size * p->tx.tp_block_nr > RING_BYTES_MAX)
		return proto_fail("files", obj, E2BIG, "the packet socket's rings are larger than 1 GiB");
	if (p->rx.tp_block_nr && setsockopt(s, SOL_PACKET, PACKET_RX_RING, &p->rx, sizeof p->rx) < 0)
		return proto_fail_sys("setsockopt", "files", obj, errno, "cannot make the packet socket's receive ring again (PACKET_RX_RING)");
	if (p->tx.tp_block_nr && setsockopt(s, SOL_PACKET, PACKET_TX_RING, &p->tx, sizeof p->tx) < 0)
		return proto_fail_sys("setsockopt", "files", obj, errno, "cannot make the packet socket's send ring again (PACKET_TX_RING)");
	return p->rx.tp_block_nr && p->rxhead ? advance(s, p, obj) : 0;
}
