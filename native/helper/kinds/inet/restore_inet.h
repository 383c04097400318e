/* Internal to the inet restart: restore_inet.c, restore_inet_peer.c, inet_sock.c (socket helpers). */
#ifndef UCR_RESTORE_INET_H
#define UCR_RESTORE_INET_H
#include <sys/socket.h>

#include "plan.h"
#include "restore.h"

/* inet_sock.c: the address text:port of p's family; "" is the any address */
socklen_t mkaddr(const struct inet_plan *p, const char *text, int port, struct sockaddr_storage *a);
/* "a.b.c.d:port" or "[v6]:port", for messages */
const char *name_of(const struct inet_plan *p, const char *addr, int port, char out[64]);
int set_int(int s, int level, int name, int v);
/* the options of inet.h but SO_REUSEADDR; buffer sizes only when they differ from the socket's */
int set_opts(int s, const struct inet_plan *p);
/* len bytes in the socket's current mode (a repair queue or plain), chunks halved on ENOMEM */
int send_all(int s, const unsigned char *d, size_t len);
/* raises a buffer (SO_SNDBUFFORCE/SO_RCVBUFFORCE) for len more bytes */
void room(int s, int name, size_t len);
/* restore_inet.c */
int bind_local(struct restore_ctx *c, int s, const struct inet_plan *p, const char *what);
/* the peer's FIN was received (its sequence counted in inseq) / ours was queued (in outseq) */
static inline int tcp_fin_in(int state)
{
	return state == INET_CLOSE_WAIT || state == INET_CLOSING || state == INET_LAST_ACK;
}
static inline int tcp_fin_out(int state)
{
	return state == INET_FIN_WAIT1 || state == INET_FIN_WAIT2 || state == INET_CLOSING || state == INET_LAST_ACK;
}
/* tcp_fin.c: the FINs of a closing connection replayed in repair mode (step 0: the peer's FIN
 * received before ours was sent, 1: ours, sent (and acknowledged in fin-wait2), 2: the peer's
 * FIN received after ours); inet_fins_release: what waits behind unsent bytes, at release */
int inet_replay_fins(int s, const struct inet_plan *p, int step, const char *what);
int inet_fins_release(int s, const struct inet_plan *p, const char *what);
/* SO_BINDTODEVICE of the plan (before bind); a device missing here fails naming it */
int bind_device(int s, const struct inet_plan *p, const char *what);
/* tcp_pair.c: the two ends of a connection both in the image made to agree (bytes one end
 * still has to send that the other already received leave its send queue) */
void tcp_pairs_agree(struct plan *pl);
/* restore_inet_peer.c */
int make_reset(struct inet_plan *p, const char *what);
int requeue_datagrams(struct restore_ctx *c);
#endif
