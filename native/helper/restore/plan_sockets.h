/* The plan of a socket to recreate, as the helper holds it once read (plan.h): a unix socket
 * (restore_unix.c) and a TCP or UDP socket (restore_inet.c). */
#ifndef UCR_PLAN_SOCKETS_H
#define UCR_PLAN_SOCKETS_H
#include <stddef.h>
#include <stdint.h>

enum unix_conn { UNIX_NONE = 0, UNIX_PAIR, UNIX_CLIENT, UNIX_ACCEPTED, UNIX_DGRAM };

/* A unix socket to recreate (restore_unix.c). */
struct unix_plan {
	int type, conn, peer, listener; /* peer, listener: file ids; -1 a temporary one */
	int listening, backlog, shutdown, passcred, sndbuf, rcvbuf, peekoff, unlinked;
	int uid, gid, mode; /* of the bound path's socket file; -1: leave as bind made it */
	char name[108];
	size_t namelen; /* 0: unnamed; name[0] == 0: abstract */
	unsigned char **msgs;
	size_t *msglen;
	int nmsgs;
	char (*from)[108]; /* datagrams with senders: each one's sender name (NULL: the peer writes) */
	size_t *fromlen;   /* 0: an unnamed sender */
	int fd, tmp; /* while creating: the socket and its temporary peer */
	int alone;   /* a pair end whose peer was gone, made without a peer (unix_pick_alone) */
	int pending; /* a client waiting in its listener's accept queue: its place there; -1: none */
	int task;    /* whose credentials bind, connect and unlink (fscred.c) */
	int opts[64], have_opts; /* a sockopts line: options in inet.h order (INET_OPT_UNSET: leave) */
	int **rights, *nrights;  /* unixrights lines: per message, the file ids in flight with it */
	char *dir;   /* a unixdir line: the directory a relative name is bound in */
	int opath;   /* bound out of sight (its path unlinked or replaced): O_PATH fd of its socket file, else -1 */
	char ext[108]; /* a unixpeer line: the name outside the image a datagram socket connects to */
	size_t extlen;
};

enum inet_state { INET_CLOSED = 0, INET_LISTEN, INET_ESTABLISHED, INET_FIN_WAIT2, INET_CLOSE_WAIT, INET_UDP_CONNECTED, INET_DISCONNECTED,
		  INET_FIN_WAIT1, INET_CLOSING, INET_LAST_ACK };
enum inet_mode { INET_PLAIN = 0, INET_REPAIR, INET_RESET, INET_FINISHED, INET_PEER_CLOSED, INET_CONNECT };

/* A TCP or UDP socket to recreate (restore_inet.c). */
struct inet_plan {
	int family, proto, state, mode, backlog;
	char local[48], remote[48]; /* "" : none */
	int lport, rport;
	int lite, cscov[2]; /* a UDP-Lite socket (proto is IPPROTO_UDP): its checksum coverage (an inetcscov line) */
	int opts[64]; /* inet.h order (INET_NOPTS_MAX) */
	uint32_t inseq, outseq, timestamp, window[5];
	int unsent, mss, sndws, rcvws, tcpopts;
	unsigned char *rq, *sq;
	size_t rqlen, sqlen;
	int rq_obj, sq_obj; /* a queue kept in a content object (index in plan.objs), else -1: filled
			     * at release, once the OBJECT records are in */
	size_t sq_skip; /* bytes at the head of the send queue its peer in the image has (tcp_pair.c) */
	struct inet_dgram {
		char from[48];
		int port;
		unsigned char *data;
		size_t len;
	} *dgrams; /* UDP */
	int ndgrams;
	unsigned char *filter;   /* struct sock_filter[], attached last */
	size_t filterlen;
	int keeper;              /* pid, 0: none */
	uint64_t keeper_start;   /* its start time (clock ticks) */
	int finunsent;           /* our FIN waits behind the unsent bytes (fin-wait1, closing, last-ack) */
	char dev[16];            /* SO_BINDTODEVICE, "": none */
	int shutdown;            /* UDP: sk_shutdown (1 receive, 2 send side), set again last */
};

#endif
