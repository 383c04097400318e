// build: gcc -O2 -g -Wall -Wextra -o unixself unixself.c
/*
 * unixself.c - unix datagram sockets connected to themselves, and connections the kernel only
 * allows in one order.
 *
 *   unixself --out FILE [--gone] [--outside PATH]
 *
 * Set up before ready (paths in the directory of FILE):
 *  - A, bound to a.sock, got "from-s" from an unnamed socket S and "from-n" from N (bound to
 *    n.sock), then connected to its own name and sent itself "a1" and "a2";
 *  - B, autobound (an abstract name the kernel chose), connected to that name, sent itself "b1",
 *    then "b2" with an eventfd in flight (counter 7; B closed its own fd of it);
 *  - U, bound to u.sock and connected to itself, "u1" queued, the path unlinked since; V, bound
 *    to the relative path v.sock (the directory of FILE), connected to itself, "v1" queued;
 *  - E, never bound: SO_PASSCRED made the kernel autobind it when it sent a datagram to N
 *    (SO_PASSCRED off again), then it connected to its own name and sent itself "e1";
 *  - C connected to D (bound to d.sock, its socket made before C's), then D connected to itself:
 *    C stays connected to D, whose sends now go to D alone (C's fail with EPERM);
 *  - X connected to F (bound to f.sock), then F connected to G (bound to g.sock) and sent "f1";
 *  - a child holds H (bound to h.sock) and J (connected to M, bound to m.sock, held by the
 *    parent, with "j1" queued there); K, the parent's, is connected to H and queued "k1" there;
 *  - with --gone: Y connected to P (bound to p.sock) and sent "y1", an unnamed socket sent
 *    "s2" to P, then P and Q (bound to q.sock) connected to each other, Q sent "q1" and was
 *    closed: P gets the three datagrams with their senders, then its sends fail with
 *    ECONNREFUSED, Y's with EPERM;
 *  - with --outside PATH: W connected to Z (bound to z.sock), then Z connected to PATH, a
 *    datagram socket outside the tree (unixsock --dgram-bind PATH, which expects "after" from
 *    Z): after a restart with --external-unix=reconnect, W's sends fail with EPERM.
 * After SIGTERM: every datagram comes in order with its sender's address, every socket has its
 * name and its peer's (getsockname, getpeername), A, B and E send to themselves and nobody else
 * can reach or connect to them (EPERM), C and X get EPERM, F reaches G, K reaches H and J
 * reaches M across the two processes.
 */
#include "case.h"
#include "dgram.h"

#include <libgen.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

/* The child: H (bound to h.sock) and J (connected to M). Told to go, it expects "k1", "k2" from
 * K at H, sends "j2" on J, and answers 'P' or a letter naming what failed. */
static int child_main(int h, int j, int go, int res, const struct name *kname)
{
	char c = 0, buf[16];
	struct name got;
	if (read(go, buf, 1) != 1)
		c = 'g';
	for (int i = 0; i < 2 && !c; i++) {
		memset(&got, 0, sizeof got);
		got.len = sizeof got.a;
		ssize_t n = recvfrom(h, buf, sizeof buf, 0, (struct sockaddr *)&got.a, &got.len);
		if (n != 2 || memcmp(buf, i ? "k2" : "k1", 2) || !same(&got, kname))
			c = i ? 'b' : 'a';
	}
	if (!c && send(j, "j2", 2, 0) != 2)
		c = 's';
	c = c ? c : 'P';
	return write(res, &c, 1) == 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int gone = case_has_flag(argc, argv, "--gone");
	strcpy(dir, case_out);
	dirname(dir);

	/* A: bound, datagrams from others, then connected to itself */
	struct name an, nn, dn, fn, gn, hn, mn, pn, qn;
	int a = bound("a.sock", &an), s = dgram(), n = bound("n.sock", &nn);
	to(s, &an, "from-s");
	to(n, &an, "from-n");
	join(a, &an, "A to itself");
	say(a, "a1");
	say(a, "a2");

	/* B: autobound, connected to itself */
	int b = dgram();
	struct name any = unnamed;
	if (bind(b, (struct sockaddr *)&any.a, any.len) < 0)
		case_setup_fail("autobind: %s", strerror(errno));
	struct name bn = name_of(b);
	join(b, &bn, "B to itself");
	say(b, "b1");
	/* then "b2" to itself with an eventfd (counter 7) in flight, which B then closes */
	int ev = eventfd(7, 0);
	if (ev < 0)
		case_setup_fail("eventfd: %s", strerror(errno));
	if (case_send_fds(b, "b2", 2, &ev, 1) != 2)
		case_setup_fail("sendmsg b2: %s", strerror(errno));
	close(ev);

	/* E: autobound by SO_PASSCRED on its first send, then connected to itself */
	int e = dgram(), on = 1, off = 0;
	if (setsockopt(e, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0)
		case_setup_fail("SO_PASSCRED: %s", strerror(errno));
	to(e, &nn, "e0");
	if (setsockopt(e, SOL_SOCKET, SO_PASSCRED, &off, sizeof off) < 0)
		case_setup_fail("SO_PASSCRED off: %s", strerror(errno));
	struct name en = name_of(e);
	if (en.len <= offsetof(struct sockaddr_un, sun_path) + 1 || en.a.sun_path[0])
		case_setup_fail("SO_PASSCRED did not autobind the socket");
	join(e, &en, "E to itself");
	say(e, "e1");

	/* U: bound, connected to itself, its path unlinked since; V: bound to the relative path
	 * v.sock (in the directory of FILE, the working directory), connected to itself */
	struct name un, vn;
	int u = bound("u.sock", &un);
	join(u, &un, "U to itself");
	say(u, "u1");
	if (unlink(un.a.sun_path) < 0)
		case_setup_fail("unlink u.sock: %s", strerror(errno));
	if (chdir(dir) < 0)
		case_setup_fail("chdir: %s", strerror(errno));
	int v = dgram();
	memset(&vn, 0, sizeof vn);
	vn.a.sun_family = AF_UNIX;
	strcpy(vn.a.sun_path, "v.sock");
	vn.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen("v.sock") + 1);
	unlink("v.sock");
	if (bind(v, (struct sockaddr *)&vn.a, vn.len) < 0)
		case_setup_fail("bind v.sock: %s", strerror(errno));
	join(v, &vn, "V to itself");
	say(v, "v1");

	/* D made first, C connected to it, then D to itself */
	int d = bound("d.sock", &dn), cc = dgram();
	join(cc, &dn, "C to D");
	join(d, &dn, "D to itself");
	say(d, "d1");

	/* F made first, X connected to F, then F to G */
	int f = bound("f.sock", &fn), x = dgram(), g = bound("g.sock", &gn);
	join(x, &fn, "X to F");
	join(f, &gn, "F to G");
	say(f, "f1");

	/* across processes: the child's H and J, the parent's K and M */
	int h = bound("h.sock", &hn), m = bound("m.sock", &mn), k = dgram(), j = dgram();
	join(k, &hn, "K to H");
	join(j, &mn, "J to M");
	say(k, "k1");
	say(j, "j1");
	int go[2], res[2];
	case_pipe(go, "go");
	case_pipe(res, "result");
	struct name kname = nosender;
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		close(go[1]);
		close(res[0]);
		close(k);
		close(m);
		_exit(child_main(h, j, go[0], res[1], &kname));
	}
	close(h);
	close(j);
	close(go[0]);
	close(res[1]);

	/* --gone: Y to P, P to Q, Q closed */
	int y = -1, p = -1;
	if (gone) {
		p = bound("p.sock", &pn);
		y = dgram();
		int q = bound("q.sock", &qn), s2 = dgram();
		join(y, &pn, "Y to P");
		say(y, "y1");
		to(s2, &pn, "s2");
		close(s2);
		join(p, &qn, "P to Q");
		join(q, &pn, "Q to P");
		say(q, "q1");
		close(q);
	}

	/* --outside PATH: W connected to Z (bound to z.sock), then Z connected to PATH, a socket
	 * outside the tree (restored with --external-unix=reconnect) */
	const char *outside = case_arg(argc, argv, "--outside");
	struct name zn;
	int z = -1, w = -1;
	if (outside) {
		z = bound("z.sock", &zn);
		w = dgram();
		join(w, &zn, "W to Z");
		struct name xn = path_at(outside);
		join(z, &xn, "Z to the outside socket");
	}

	case_ready();
	case_wait_term();

	if (outside) {
		expect_names(w, "W", &unnamed, &zn);
		expect_send_err(w, "W (connected to Z, which connected outside since)", EPERM);
		if (send(z, "after", 5, 0) != 5)
			case_fail("Z: cannot send to the outside socket: %s", case_errname(errno));
	}

	expect(a, "A", "from-s", &nosender);
	expect(a, "A", "from-n", &nn);
	expect(a, "A", "a1", &an);
	expect(a, "A", "a2", &an);
	expect_self(a, "A", &an);
	expect(n, "N", "e0", &en);
	expect_empty(n, "N");

	expect(b, "B", "b1", &bn);
	{
		char data[8];
		uint64_t v = 0;
		int fd;
		if (case_recv_fd(b, data, sizeof data, &fd) != 2 || memcmp(data, "b2", 2) || fd < 0)
			case_fail("B: no \"b2\" with a file in flight (%s)", case_errname(errno));
		else if (read(fd, &v, sizeof v) != sizeof v || v != 7)
			case_fail("B: the eventfd in flight reads %llu, expected 7", (unsigned long long)v);
		if (fd >= 0)
			close(fd);
	}
	expect_self(b, "B", &bn);
	expect(e, "E", "e1", &en);
	expect_self(e, "E", &en);

	expect(u, "U", "u1", &un);
	expect_self_err(u, "U (its path unlinked)", &un, ENOENT);
	struct stat st;
	if (stat(un.a.sun_path, &st) == 0)
		case_fail("u.sock exists again after restart");
	expect(v, "V", "v1", &vn);
	expect_self(v, "V (a relative name)", &vn);

	expect(d, "D", "d1", &dn);
	expect_self(d, "D", &dn);
	expect_names(cc, "C", &unnamed, &dn);
	expect_send_err(cc, "C (connected to D, which connected to itself since)", EPERM);

	expect_names(f, "F", &fn, &gn);
	expect(g, "G", "f1", &fn);
	if (send(f, "f2", 2, 0) != 2)
		case_fail("F: cannot send to G: %s", case_errname(errno));
	expect(g, "G", "f2", &fn);
	expect_names(x, "X", &unnamed, &fn);
	expect_send_err(x, "X (connected to F, which connected to G since)", EPERM);

	expect(m, "M", "j1", &nosender);
	if (send(k, "k2", 2, 0) != 2)
		case_fail("K: cannot send to H in the child: %s", case_errname(errno));
	char r = 0;
	if (write(go[1], "g", 1) != 1 || case_wait_readable(res[0], 10000) != 1 || read(res[0], &r, 1) != 1)
		case_fail("no answer from the child");
	else if (r != 'P')
		case_fail("the child failed: '%c' (g: no go, a/b: \"k1\"/\"k2\" from K at H, s: J cannot send to M)", r);
	else
		expect(m, "M", "j2", &nosender);
	case_reap_child("child", child, 5000);

	if (gone) {
		expect(p, "P", "y1", &nosender);
		expect(p, "P", "s2", &nosender);
		expect(p, "P", "q1", &qn);
		expect_empty(p, "P");
		expect_names(y, "Y", &unnamed, &pn);
		expect_send_err(y, "Y (connected to P, which connected to Q since)", EPERM);
		expect_send_err(p, "P (its peer Q closed)", ECONNREFUSED);
		expect_send_err(p, "P (its peer Q closed), again", ENOTCONN);
	}
	case_finish();
}
