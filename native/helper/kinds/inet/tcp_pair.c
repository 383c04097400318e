/* The two ends of a loopback connection that the image holds both of, made to agree before
 * they are restored.
 *
 * A checkpoint reads the ends one after the other, and an end keeps sending in between: its
 * timers still run (a zero-window probe, a retransmission), so the end read later may hold bytes
 * that the end read first counts as not acknowledged or as never sent. Seen in
 * test/net.test.ts (tcpbig): 24,064 bytes, a window's worth, sent by one end after it was
 * read, already in the other end's receive queue, and in the image as never sent. Restored as
 * read, the first end sends them again from its old snd_una: its peer drops them as old
 * (TCP_OLD_SEQUENCE) and acknowledges beyond anything the first end has sent, so the first end
 * drops every segment of its peer (TCP_ACK_UNSENT_DATA), acknowledgements and data alike, and
 * neither end moves again (the test's never-sent bytes did not arrive within 30 s). How often
 * depends on when the timers fire: a fraction of runs.
 *
 * So the bytes the peer has count as delivered: they leave the head of the send queue (skipped
 * when it is filled), the send sequence starts after them, and the window keeps its right edge.
 * Only between two established ends in repair mode; the count is bounded by the send queue. */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "restore_inet.h"

static int ends_of_one(const struct inet_plan *p, const struct inet_plan *q)
{
	return p->family == q->family && p->lport == q->rport && p->rport == q->lport && !strcmp(p->local, q->remote) &&
	       !strcmp(p->remote, q->local);
}

void tcp_pairs_agree(struct plan *pl)
{
	for (int i = 0; i < pl->nfiles; i++) {
		struct inet_plan *p = pl->files[i].in;
		if (pl->files[i].kind != FILE_INET || p->proto != IPPROTO_TCP || p->mode != INET_REPAIR ||
		    p->state != INET_ESTABLISHED)
			continue;
		for (int j = 0; j < pl->nfiles; j++) {
			const struct inet_plan *q = pl->files[j].in;
			if (j == i || pl->files[j].kind != FILE_INET || q->proto != IPPROTO_TCP || q->mode != INET_REPAIR ||
			    q->state != INET_ESTABLISHED || !ends_of_one(p, q))
				continue;
			uint32_t una = p->outseq - (uint32_t)p->sqlen, had = q->inseq - una;
			if ((int32_t)had <= 0 || had > p->sqlen)
				break;
			size_t sent = p->sqlen - (size_t)p->unsent;
			p->sq_skip = had;
			if (had > sent)
				p->unsent = (int)(p->sqlen - had);
			p->window[1] = p->window[1] > had ? p->window[1] - had : 0;
			break;
		}
	}
}
