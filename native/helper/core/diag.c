/* One sock_diag dump (NETLINK_SOCK_DIAG), shared by the socket kinds (unix, inet, rawsock):
 * the request is sent, and every answer message is handed to the caller until the kernel says
 * it is done. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

int diag_dump(const void *req, size_t len, void (*each)(const struct nlmsghdr *h, void *ctx), void *ctx)
{
	static char buf[1 << 16];
	int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), err = 0;
	if (s < 0)
		return -1;
	if (send(s, req, len, 0) != (ssize_t)len) {
		err = errno;
		close(s);
		errno = err;
		return -1;
	}
	for (int done = 0; !done;) {
		ssize_t n = recv(s, buf, sizeof buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EPROTO;
			break;
		}
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				err = e->error ? -e->error : EPROTO;
				done = 1;
				break;
			}
			each(h, ctx);
		}
	}
	close(s);
	errno = err;
	return err ? -1 : 0;
}
