/*
 * unixnames - unix sockets whose names no longer lead to them, or lead there only relatively.
 *
 *   unixnames --out FILE --relative    names bound relative to the working directory: a
 *                                      stream listener "rel.sock" with an accepted connection
 *                                      (connected by the relative name), a datagram socket
 *                                      "sub/reld.sock" and a socket connected to it
 *   unixnames --out FILE --moved       a socket bound to "moved.sock", then the working
 *                                      directory changed: refused at checkpoint
 *   unixnames --out FILE --replaced    a listener with an accepted connection whose socket file
 *                                      was replaced by another listener's (of the process); a
 *                                      datagram socket whose file was replaced by a regular file
 *                                      that is not the program's; one whose file was removed,
 *                                      with a socket connected to it
 *
 * After SIGTERM: getsockname()/getpeername() give the names as bound, data queued before still
 * arrives, connections talk, connecting by path reaches what the path holds now, and the file
 * that replaced a socket file is untouched.
 */
#include "case.h"

#include <libgen.h>
#include <sys/socket.h>
#include <sys/un.h>

static socklen_t addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static int sock(int type, const char *bindto, const char *connectto)
{
	struct sockaddr_un a;
	int s = socket(AF_UNIX, type, 0);
	if (s < 0 || (bindto && bind(s, (struct sockaddr *)&a, addr(&a, bindto)) < 0) ||
	    (type != SOCK_DGRAM && bindto && listen(s, 8) < 0) || (connectto && connect(s, (struct sockaddr *)&a, addr(&a, connectto)) < 0))
		case_setup_fail("socket %s %s: %s", bindto ? bindto : "-", connectto ? connectto : "-", strerror(errno));
	return s;
}

static void name_is(int s, int peer, const char *want, const char *what)
{
	struct sockaddr_un a;
	socklen_t l = sizeof a;
	memset(&a, 0, sizeof a);
	if ((peer ? getpeername(s, (struct sockaddr *)&a, &l) : getsockname(s, (struct sockaddr *)&a, &l)) < 0 || strcmp(a.sun_path, want))
		case_fail("%s: %s is '%s', not '%s'", what, peer ? "getpeername" : "getsockname", a.sun_path, want);
}

static void recv_is(int s, const char *want, const char *what)
{
	char buf[64] = { 0 };
	ssize_t n = recv(s, buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n != (ssize_t)strlen(want) || strcmp(buf, want))
		case_fail("%s: received %zd '%s', expected '%s' (%s)", what, n, buf, want, n < 0 ? strerror(errno) : "");
}

static void send_str(int s, const char *m)
{
	if (send(s, m, strlen(m), 0) != (ssize_t)strlen(m))
		case_fail("send %s: %s", m, strerror(errno));
}

static int relative(void)
{
	if (mkdir("sub", 0755) < 0 && errno != EEXIST)
		case_setup_fail("mkdir sub: %s", strerror(errno));
	int l = sock(SOCK_STREAM, "rel.sock", NULL), c = sock(SOCK_STREAM, NULL, "rel.sock"), a = accept(l, NULL, NULL);
	int d = sock(SOCK_DGRAM, "sub/reld.sock", NULL), e = sock(SOCK_DGRAM, NULL, "sub/reld.sock");
	if (a < 0)
		case_setup_fail("accept: %s", strerror(errno));
	send_str(c, "c2a");
	send_str(a, "a2c");
	send_str(e, "dgram1");
	case_ready();
	case_wait_term();
	name_is(l, 0, "rel.sock", "the listener");
	name_is(a, 0, "rel.sock", "the accepted end");
	name_is(c, 1, "rel.sock", "the client");
	name_is(d, 0, "sub/reld.sock", "the datagram socket");
	name_is(e, 1, "sub/reld.sock", "the socket connected to it");
	recv_is(a, "c2a", "the accepted end");
	recv_is(c, "a2c", "the client");
	recv_is(d, "dgram1", "the datagram socket");
	send_str(e, "dgram2");
	recv_is(d, "dgram2", "the datagram socket, after the restart");
	struct sockaddr_un sa;
	int n = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(n, (struct sockaddr *)&sa, addr(&sa, "rel.sock")) < 0)
		case_fail("connect to rel.sock: %s", strerror(errno));
	int na = accept(l, NULL, NULL);
	if (na < 0)
		case_fail("accept a new connection: %s", strerror(errno));
	send_str(n, "new");
	recv_is(na, "new", "a new connection by the relative name");
	case_finish();
}

static int replaced(const char *dir)
{
	char lpath[PATH_MAX + 16], fpath[PATH_MAX + 16], rpath[PATH_MAX + 16];
	snprintf(lpath, sizeof lpath, "%s/l.sock", dir);
	snprintf(fpath, sizeof fpath, "%s/f.sock", dir);
	snprintf(rpath, sizeof rpath, "%s/r.sock", dir);
	int l = sock(SOCK_STREAM, lpath, NULL), c = sock(SOCK_STREAM, NULL, lpath), a = accept(l, NULL, NULL);
	if (a < 0 || unlink(lpath) < 0)
		case_setup_fail("accept/unlink: %s", strerror(errno));
	int nl = sock(SOCK_STREAM, lpath, NULL); /* another listener at the path now */
	fcntl(l, F_SETFL, O_NONBLOCK);
	fcntl(nl, F_SETFL, O_NONBLOCK);
	int f = sock(SOCK_DGRAM, fpath, NULL);
	int mine = unlink(fpath) < 0 ? -1 : open(fpath, O_CREAT | O_EXCL | O_WRONLY, 0600);
	if (mine < 0 || write(mine, "not ours", 8) != 8)
		case_setup_fail("%s: %s", fpath, strerror(errno));
	close(mine);
	int r = sock(SOCK_DGRAM, rpath, NULL), g = sock(SOCK_DGRAM, NULL, rpath);
	if (unlink(rpath) < 0)
		case_setup_fail("unlink %s: %s", rpath, strerror(errno));
	send_str(c, "hi");
	send_str(g, "g1");
	case_ready();
	case_wait_term();
	name_is(l, 0, lpath, "the listener whose file was replaced");
	name_is(c, 1, lpath, "its client");
	name_is(nl, 0, lpath, "the listener now at the path");
	name_is(f, 0, fpath, "the datagram socket whose file was replaced");
	name_is(r, 0, rpath, "the datagram socket whose file was removed");
	recv_is(a, "hi", "the accepted end");
	send_str(a, "back");
	recv_is(c, "back", "the client");
	struct sockaddr_un sa;
	int n = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(n, (struct sockaddr *)&sa, addr(&sa, lpath)) < 0)
		case_fail("connect to %s: %s", lpath, strerror(errno));
	if (accept(nl, NULL, NULL) < 0)
		case_fail("the listener now at %s got no connection: %s", lpath, strerror(errno));
	if (accept(l, NULL, NULL) >= 0 || errno != EAGAIN)
		case_fail("the listener whose file was replaced got a connection by path");
	char buf[16] = { 0 };
	int fd = open(fpath, O_RDONLY);
	struct stat st;
	if (fd < 0 || read(fd, buf, sizeof buf - 1) != 8 || strcmp(buf, "not ours") || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		case_fail("the file that replaced %s was changed ('%s')", fpath, buf);
	if (lstat(rpath, &st) == 0 || errno != ENOENT)
		case_fail("%s exists again", rpath);
	recv_is(r, "g1", "the datagram socket whose file was removed");
	send_str(g, "g2");
	recv_is(r, "g2", "the datagram socket whose file was removed, after the restart");
	case_finish();
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	char out[PATH_MAX], dir[PATH_MAX];
	snprintf(out, sizeof out, "%s", case_out);
	snprintf(dir, sizeof dir, "%s", dirname(out));
	if (chdir(dir) < 0)
		case_setup_fail("chdir %s: %s", dir, strerror(errno));
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--relative"))
			return relative();
		else if (!strcmp(argv[i], "--moved")) { /* bound relative, then elsewhere: refused */
			sock(SOCK_DGRAM, "moved.sock", NULL);
			if (chdir("/") < 0)
				case_setup_fail("chdir /: %s", strerror(errno));
			case_ready();
			case_wait_term();
			case_finish();
		}
	return replaced(dir);
}
