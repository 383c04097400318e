// The coordinator <-> ucr-helper protocol: every message, once. scripts/gen-protocol.mjs makes
// from it the C structs, decoders and dispatch tables (native/helper/gen/) and the TypeScript
// types, encoders and event decoders (src/kernel/protocol.gen.ts); test/protocol.test.ts
// round-trips every message through both. docs/protocol.md explains the format.
//
// A message is one line of words: its verb, then its fields in the order listed here. Each
// field has a name and a type:
//   u64 / i64 {min, max, oneOf}   a number (decimal; the C side also takes 0x...)
//   bool                          0 or 1
//   hex {min, max}                bytes as hex, "-" when empty (max: bytes)
//   str {nullable}                a text (path, name) as the hex of its bytes, never empty and
//                                 never holding a NUL; "-" is "none" when nullable
//   list {elem: 'u64'|'i64', min, max, count, minCount, maxCount}
//                                 numbers separated by ",", "-" when empty
//   enum {values}                 one word of a fixed list
//   word {nullable}               a word the handler parses itself (an address, a queue's
//                                 special form): kept for the few compound words
//   json {ts}                     events only: JSON the C side builds by hand (nested data)
// `opt: true` marks trailing fields that may be left out (the decoder says which came).
// Channels: plan (restore plan lines, fd 0 of `ucr-helper restore`), restore (the steps that
// follow the plan), dump (checkpoint commands), dumprun (the page runs after `pages` and
// `objdump`), event (the helper's JSON lines on fd 1, helper -> coordinator).

const U32 = 0xffffffff;
const INT = 0x7fffffff;
const PID = (1 << 22) - 1; // PID_MAX_LIMIT - 1
const ID = (1 << 30) - 1; // file, object and pipe ids of the plan
const FD = (1 << 20) - 1;
const TTYQ = 1 << 16; // bytes queued in a pty, each way (native/helper/kinds/tty/tty_queue.c)
const INET_NOPTS = 62; // native/helper/kinds/inet/inet.h (src/image/kinds/inet.ts INET_OPTS); -0x80000000: not recorded

const f = (type) => (name, o = {}) => ({ name, type, ...o });
const u64 = f('u64');
const i64 = f('i64');
const bool = f('bool');
const hex = f('hex');
const str = f('str');
const list = f('list');
const word = f('word');
const json = f('json');
const enm = f('enum');
const u32 = (name, o = {}) => u64(name, { max: U32, ...o });
const id = (name = 'id', o = {}) => u64(name, { max: ID, ...o });
const flags = (name = 'flags') => u32(name);
const many = (names, o = {}) => names.map((n) => u64(n, o));

const msg = (channel, name, fields, doc) => ({ channel, name, fields, doc });
const plan = (name, fields, doc) => msg('plan', name, fields, doc);
const setting = (name, doc, o) => plan(name, [o ? u64('value', o) : bool('value')], doc);
const dump = (name, fields, doc) => msg('dump', name, fields, doc);
// hand: the C side builds the JSON itself (nested data); ts: the TypeScript type of the whole event
const ev = (name, fields, doc, hand) => ({ ...msg('event', name, fields, doc), ...(hand ? { hand: true, ts: hand.ts } : {}) });

const SIGINFOS = 8192 * 128; // pending siginfos per line (128 bytes each)
const RUNS_MAX = 4096; // entries of a `runs` or `vmas` line (src/kernel/restore-plan.ts)
const REGS = 216; // sizeof(struct user_regs_struct)
const AIO_EVENTS = 131072; // unreaped events of one AIO ring (src/image/validate-vmas.ts AIO_EVENTS_MAX)
const perm = [i64('id', { min: 0, max: INT }), i64('key', { min: -0x80000000, max: INT }), u64('mode', { max: 0o7777 }), ...['uid', 'gid', 'cuid', 'cgid'].map((n) => u32(n))];

export const messages = [
  // ---- plan: settings
  setting('workers', 'tracer processes; task i is traced by worker i % n', { min: 1, max: 64 }),
  setting('pidwait', 'how long a pid in use may be waited for, in ms', { max: 3599999 }),
  setting('seed', 'the digest chain so far (the metadata records)', { max: U32 }),
  setting('spool', '1: read the whole image into memory first (a pipe)'),
  setting('lz4', "1: the header says compress 'lz4': PAGES_LZ4 / OBJECT_LZ4 records are allowed"),
  setting('pidns', '1: kind 3 = the namespace init, created with CLONE_NEWPID'),
  setting('trusted', "1: root's image restarted by root: created files may get their set-id bits back"),
  setting('foreground', "1: the root's group is made the foreground of the terminal on fd 4 meanwhile"),
  setting('ipcns', '1: unshare CLONE_NEWIPC before any System V object or task is created'),
  plan('skipmem', [i64('task', { min: -1, max: PID }), u64('start'), u64('end')], '--skip-memory: the range (of one task, -1 all) comes back zeros'),

  // ---- plan: objects created before any task
  plan('file.path', [id(), str('path'), flags(), u64('pos')], 'an open file, opened by the helper'),
  plan('file.proc', [id(), u64('pid', { min: 1, max: PID }), u64('tid', { max: PID }), str('sub', { nullable: true }), flags(), u64('pos')], 'a file of /proc/PID[/task/TID] (pid in the image), opened by each task holding it'),
  plan('file.inherit', [id(), u64('fd', { max: 1023 })], "one of the helper's own fds"),
  plan('file.reopen', [id(), id('obj'), flags(), u64('pos')], 'an fd of a content object (reopened: an open file of its own)'),
  plan('file.ptmx', [id(), u64('tty', { max: FD }), flags()], "a pty's master"),
  plan('file.pts', [id(), u64('tty', { max: FD }), flags()], 'its slave, opened again'),
  plan('file.ptshup', [id(), flags()], 'a slave whose master was closed (hung up): a new pair, the master closed again'),
  plan('file.devtty', [id(), i64('tty', { min: -1, max: FD }), flags()], '/dev/tty: opened by the session leader of that pty right after it takes it (act.ctty); -1: the caller\'s, by the helper'),
  plan('file.epoll', [id(), flags()], 'an epoll instance (targets: epctl lines)'),
  plan('file.inotify', [id(), flags()], 'an inotify instance (watches: inwatch lines)'),
  plan('file.pidfd', [id(), u64('pid', { min: 1, max: PID }), flags()], 'a pidfd of a process of the image (its pid in the image), made by each task holding it in its finish step'),
  plan('file.deadpidfd', [id(), u64('group', { min: 1 }), flags()], 'a pidfd of a process that has exited and was reaped (group: the same for the pidfds of one process), made by the helper'),
  plan('file.eventfd', [id(), u64('count'), bool('semaphore'), flags()], 'an eventfd'),
  plan('file.signalfd', [id(), u64('mask'), flags()], 'a signalfd'),
  plan('file.timerfd', [id(), u64('clock', { max: 15 }), flags(), ...many(['ticks', 'isec', 'insec', 'vsec', 'vnsec'])], 'a timerfd: interval and value'),
  plan('file.pipe', [id(), id('pipe'), u64('end', { max: 2 }), flags()], 'an end of a pipe: 0 read, 1 write, 2 both (a FIFO opened O_RDWR)'),
  plan(
    'file.unix',
    [
      id(), u64('type', { oneOf: [1, 2, 5] }), flags(), u64('conn', { max: 4 }), i64('peer', { min: -1, max: ID }), i64('listener', { min: -1, max: ID }),
      bool('listening'), u64('backlog', { max: 65535 }), u64('shutdown', { max: 3 }), bool('passcred'), u64('sndbuf', { max: 1 << 30 }), u64('rcvbuf', { max: 1 << 30 }),
      i64('peekoff', { min: -1, max: 1 << 30 }), bool('unlinked'), i64('uid', { min: -1, max: U32 - 1 }), i64('gid', { min: -1, max: U32 - 1 }), i64('mode', { min: -1, max: 0o7777 }),
      hex('name', { max: 108 }), word('msgs', { nullable: true }), u64('place', { max: 65535, opt: true }),
    ],
    'a unix socket (restore_unix.c). conn: 0 none, 1 pair, 2 client, 3 accepted, 4 dgram; peer/listener -1: a temporary one; msgs: hex,hex,... ("z" empty, hex:hex sender name); place: a client waiting, never accepted, in the accept queue',
  ),
  plan(
    'file.inet',
    [
      id(), u64('family', { oneOf: [4, 6] }), u64('proto', { oneOf: [6, 17, 136] }), flags(), u64('state', { max: 9 }), u64('mode', { max: 5 }),
      word('local', { nullable: true }), u64('lport', { max: 65535 }), word('remote', { nullable: true }), u64('rport', { max: 65535 }), u64('backlog', { max: 65535 }),
      list('opts', { elem: 'i64', min: -0x80000000, max: INT, count: INET_NOPTS }), u32('inseq'), u32('outseq'), u32('unsent'), u64('mss', { max: 65535 }),
      u64('sndws', { max: 14 }), u64('rcvws', { max: 14 }), u64('tcpopts', { max: 255 }), u32('timestamp'), list('window', { elem: 'u64', max: U32, count: 5 }),
      word('rq', { nullable: true }), word('sq', { nullable: true }), u64('keeper', { max: PID }), u64('keeper_start'), hex('filter', { max: 4096 * 8 }),
      bool('finunsent'), str('dev', { opt: true }),
    ],
    'a TCP or UDP socket (plan.h: states, modes; queues: hex, - or @obj:len; UDP receive queue: addr/port/hex,...; keeper: the ucr-tcplock pid, 0 none; finunsent: our FIN waits behind unsent bytes; dev: SO_BINDTODEVICE)',
  ),
  plan('inetshut', [id('file'), u64('how', { min: 1, max: 3 })], "a UDP socket's shutdown() (after its file line): sk_shutdown, 1 receive side, 2 send side, 3 both"),
  // raw IP, ping, packet and netlink sockets (kinds/rawsock/, src/kernel/fds/rawsock.ts)
  plan(
    'file.rawsock',
    [
      id(), u64('family', { oneOf: [2, 10, 16, 17] }), u64('type', { oneOf: [2, 3] }), u64('proto', { max: 65535 }), flags(),
      hex('local', { max: 128 }), hex('remote', { max: 128 }), str('ifname', { nullable: true }),
      list('opts', { elem: 'i64', min: -0x80000000, max: INT, count: INET_NOPTS }), list('kopts', { elem: 'i64', min: -0x80000000, max: U32, maxCount: 16 }),
      list('groups', { elem: 'u64', min: 1, max: U32, maxCount: 1024 }), hex('mclist', { max: 16 * 256 }), hex('blob', { max: 64 }), hex('filter', { max: 4096 * 8 }),
      list('rings', { elem: 'u64', max: U32, maxCount: 9 }),
    ],
    'a raw IP (SOCK_RAW), ping (SOCK_DGRAM IPPROTO_ICMP*), packet or netlink socket: the names as sockaddr bytes, ifname the packet socket\'s bound device, kopts the family\'s options (restore_rawsock.c), groups netlink groups, mclist packet memberships (struct packet_mreq each), blob ICMPV6_FILTER, rings a packet socket\'s TPACKET_V1/V2 rings: receive block size, blocks, frame size, frames, the same for the send ring, the receive ring\'s next frame (all 0: none)',
  ),
  plan('pipe', [id(), u64('size', { min: 4096, max: 1 << 26 }), hex('data', { max: 1 << 26 }), str('path', { opt: true }), u64('ghost', { max: 0o7777, opt: true })], 'a pipe (or FIFO: its path; ghost: removed since, made again with that mode and removed again) created and filled by the helper'),
  plan(
    'obj',
    [id(), u64('kind', { max: 5 }), u64('size', { max: 2 ** 46 - 1 }), u64('seals', { max: 0xffff }), str('name', { nullable: true }), u64('mode', { max: 0o7777, opt: true }), u64('uid', { max: U32 - 1, opt: true }), u64('gid', { max: U32 - 1, opt: true }), u64('dev', { opt: true }), u64('ino', { opt: true })],
    'a content object: 0 shared anonymous, 1 memfd, 2 unlinked file, 3 socket queue, 4 removed directory, 5 tmpfs file (contents: OBJECT records)',
  ),
  plan(
    'objtimes',
    [id('obj'), i64('atime_s', { min: -(2 ** 40), max: 2 ** 40 }), u64('atime_ns', { max: 999999999 }), i64('mtime_s', { min: -(2 ** 40), max: 2 ** 40 }), u64('mtime_ns', { max: 999999999 })],
    'a memfd, unlinked file or removed directory (after its obj line): its access and modification times, set once its contents are in',
  ),
  plan('fown', [id('file'), u64('type', { max: 2 }), u64('pid', { max: PID }), u64('sig', { max: 64 })], 'the O_ASYNC (or SIGURG) owner (0 tid, 1 pid, 2 pgrp) by its pid in the image; pid 0: no owner, only the F_SETSIG signal'),
  plan('unixdir', [id('file'), str('path')], "the directory a unix socket's relative name is bound in (after its file line)"),
  plan('inetcscov', [id('file'), u64('send', { max: 65535 }), u64('recv', { max: 65535 })], "a UDP-Lite socket's checksum coverage, UDPLITE_SEND_CSCOV and UDPLITE_RECV_CSCOV (after its file line, proto 136)"),
  plan('unixpeer', [id('file'), hex('name', { max: 108 })], 'a datagram unix socket (conn 4, peer -1) connected again to this name, a socket outside the image (after its file line; --external-unix=reconnect)'),
  plan('unixrights', [id('file'), u64('msg', { max: 65535 }), list('files', { elem: 'u64', max: ID, minCount: 1, maxCount: 253 })], "the files (ids) in flight (SCM_RIGHTS) with message msg of a unix socket's queue (after its file line)"),
  plan('sockopts', [id('file'), list('opts', { elem: 'i64', min: -0x80000000, max: INT, count: INET_NOPTS })], "a unix socket's socket-level options (after its file line; inet.h order, -0x80000000: not recorded)"),
  plan('ttymodes', [...['iflag', 'oflag', 'cflag', 'lflag'].map((n) => u32(n)), u64('line', { max: 255 }), hex('cc', { max: 32 }), u32('ispeed'), u32('ospeed'), ...many(['rows', 'cols', 'xpix', 'ypix'], { max: 0xffff })], "the job's terminal modes at checkpoint: set on fd 4's terminal while the job is its foreground, the caller's given back"),
  plan('flock', [id('file'), bool('ofd'), bool('write'), u64('start', { max: 2n ** 63n - 1n }), u64('len', { max: 2n ** 63n - 1n })], 'a flock (ofd 0) or OFD lock of an open file; len 0: to EOF'),
  plan('inwatch', [id('file'), u64('wd', { min: 1, max: INT }), u32('mask'), str('path'), id('ofile', { opt: true })], 'an inotify watch (in wd order; ofile: a file deleted since, watched through that file (an unlinked one) of the plan)'),
  // ---- fsnotify (issue 17): fanotify groups and their marks
  plan('file.fanotify', [id(), u32('init'), u32('evflags'), flags()], 'a fanotify group: fanotify_init flags and event flags (marks: fanmark lines)'),
  plan('file.devnode', [id(), str('path'), u32('rdev'), u64('mode', { max: 0o7777 }), u32('uid'), u32('gid'), flags()], 'a deleted device node: made again at path (or beside it) with mknod, opened, deleted again'),
  plan('file.symlink', [id(), str('path'), str('target'), flags()], 'an O_PATH fd of a symbolic link removed since: made again at path (or beside it) pointing to target, opened O_PATH|O_NOFOLLOW, removed again'),
  plan('fanmark', [id('file'), u64('type', { max: 2 }), u32('mflags'), u64('mask'), u64('ignored'), str('path'), id('ofile', { opt: true })], 'a fanotify mark: type 0 inode, 1 mount, 2 filesystem, at path (ofile: of a file deleted since, through that file (an unlinked one) of the plan)'),
  plan(
    'tty',
    [
      u64('index', { max: FD }), bool('locked'), bool('pkt'), bool('excl'), bool('settings'), ...['iflag', 'oflag', 'cflag', 'lflag'].map((n) => u32(n)), u64('line', { max: 255 }), hex('cc', { max: 32 }), u32('ispeed'), u32('ospeed'), ...many(['rows', 'cols', 'xpix', 'ypix'], { max: 0xffff }),
      i64('uid', { min: -1, max: U32 - 1, opt: true }), i64('gid', { min: -1, max: U32 - 1, opt: true }), i64('mode', { min: -1, max: 0o7777, opt: true }),
      hex('out', { max: TTYQ, opt: true }), word('lines', { nullable: true, opt: true }), hex('partial', { max: TTYQ, opt: true }),
    ],
    'a pty pair created at that index (restore_tty.c); /dev/pts/N owner and mode (-1: as created); bytes queued: out (the master reads), lines (hex,hex,...: canonical input lines as read, "z" a bare end-of-file) and partial (input not ended by a line)',
  ),
  plan('shm', [...perm, u64('size', { min: 1, max: 2 ** 40 }), bool('destroyed'), bool('locked'), bool('keep')], 'a System V segment (keep 0: any id)'),
  plan('sem', [...perm, list('values', { elem: 'u64', max: 32767, minCount: 1, maxCount: 65536 })], 'a System V semaphore set'),
  plan('msg', [...perm, u64('qbytes', { max: INT }), hex('data', { max: 1 << 24 })], 'a System V message queue (messages: u64 type | u32 length | text)'),
  plan('objrun', [id('obj'), u64('offset'), u64('npages', { min: 1 })], 'a run of a content object, in stream order'),
  plan('srun', [u64('task', { max: PID }), u64('addr'), u64('npages', { min: 1 }), u64('off')], 'a run of task pages staged in the copy-on-write window at off (before objrun and run lines; restore_cow.c)'),
  plan('run', [u64('task', { max: PID }), u64('addr'), u64('npages', { min: 1 })], 'a run of task pages, in stream order (after objrun)'),
  plan('runs', [u64('task', { max: PID }), hex('runs', { min: 16, max: RUNS_MAX * 16 })], 'run lines of one task in one: u64 address | u64 page count each (little-endian), in stream order'),

  // ---- plan: tasks
  plan('task', [u64('index', { max: PID }), u64('old_pid', { max: PID }), u64('new_pid', { max: PID }), u64('kind', { max: 3 }), u32('exit_status'), bool('stopped')], 'starts a task section: kind 0 task, 1 zombie, 2 placeholder, 3 init'),
  plan('newns', [bool('value')], 'created as pid 1 of a new pid namespace'),
  plan('leaderexit', [bool('value')], 'the main thread exits once the others are back'),
  plan('cwd', [str('path')], 'the working directory'),
  plan('cwdobj', [id('obj')], 'the cwd is that removed directory (after cwd)'),
  plan('exe', [str('path')], 'the executable'),
  plan('umask', [u64('value', { max: 0o777 })], 'umask'),
  plan('cgroup', [str('mount'), str('path', { nullable: true })], "the task's cgroup in one hierarchy, when not the restarter's: a mount point of the restarter's and the path below it (- its root); made if missing, with the task's credentials (restore_cgroup.c)"),
  plan('cgthread', [u64('tid', { min: 1, max: PID }), str('mount'), str('path', { nullable: true })], "a thread's cgroup in one hierarchy, when not its process's (moved alone): written to that cgroup's cgroup.threads (v2) or tasks (v1) once the thread exists, in the task's finish step (restore_cgroup.c)"),
  plan('comm', [hex('comm', { max: 16 })], 'the name'),
  plan('pdeathsig', [u64('value', { max: 64 })], 'PR_SET_PDEATHSIG'),
  plan('creds', [...['ruid', 'euid', 'suid', 'fsuid', 'rgid', 'egid', 'sgid', 'fsgid'].map((n) => u32(n)), list('groups', { elem: 'u64', max: U32, maxCount: 64 })], 'credentials'),
  plan('caps', many(['inheritable', 'permitted', 'effective', 'bounding', 'ambient']), 'capability sets (64-bit masks)'),
  plan('dumpable', [u64('value', { max: 2 })], 'PR_SET_DUMPABLE'),
  plan('tidaddr', [u64('addr')], 'set_tid_address'),
  plan('auxv', [hex('auxv', { max: 1024 })], 'the auxiliary vector'),
  plan('fd', [u64('target', { max: FD }), id('file'), bool('cloexec')], 'an fd of the task'),
  plan('lease', [u64('fd', { max: FD }), bool('write')], 'a lease (F_SETLEASE) the task takes again on its open file, with its own credentials'),
  plan('plock', [u64('fd', { max: FD }), bool('write'), u64('start', { max: 2n ** 63n - 1n }), u64('len', { max: 2n ** 63n - 1n })], 'a POSIX lock the task takes again'),
  plan('tflock', [u64('fd', { max: FD }), bool('write')], 'a flock the task that took it takes again through its fd (the lock of the open file, shown with its pid)'),
  plan('epctl', [u64('epfd', { max: FD }), u64('tfd', { max: FD }), u32('events'), u64('data')], 'an epoll registration the task makes again'),
  plan('epghost', [id('epfile'), u64('tfd', { max: FD }), id('tfile'), u32('events'), u64('data')], 'a registration whose fd number no longer holds its file'),
  plan('vma', [u64('start'), u64('end'), u32('prot'), u32('flags'), u64('pgoff'), bool('fill'), u32('madv'), str('path', { nullable: true }), id('obj', { opt: true })], 'a mapping (obj: of that content object)'),
  plan('vmas', [hex('vmas', { min: 40, max: RUNS_MAX * 40 })], 'vma lines without path or object in one: u64 start | u64 end | u64 pgoff | u32 prot | u32 flags | u32 madv | u32 fill each (little-endian), in address order'),
  plan('shmat', [u64('start'), u64('end'), u64('prot', { max: 7 }), u64('shmid', { max: INT }), u64('shmflg', { max: INT }), u32('madv')], 'a System V segment attached there'),
  plan('aioring', [u64('start'), u64('end'), u32('head', { opt: true }), u32('tail', { opt: true }), hex('events', { max: AIO_EVENTS * 32, opt: true })],
    'an AIO ring (io_setup context) made again there: io_setup in the task, then mremap (restore_aio.c); head, tail: where they were (requests submitted and reaped in the task), events: the completed events not yet reaped, from head to tail (32 bytes each)'),
  plan('pktring', [u64('start'), u64('end'), u64('prot', { max: 7 }), id('file')], "a packet socket's rings mapped there (MAP_SHARED from the socket, a rawsock file of the plan)"),
  plan('vdso', many(['vvar', 'vvar_end', 'vclock', 'vclock_end', 'vdso', 'vdso_end']), 'where [vvar], [vvar_vclock] and [vdso] go (start and end; 0 and 0: not mapped)'),
  plan('mm', many(['start_code', 'end_code', 'start_data', 'end_data', 'start_brk', 'brk', 'start_stack', 'arg_start', 'arg_end', 'env_start', 'env_end']), 'PR_SET_MM_MAP'),
  plan('rseq', [u64('ptr'), u64('len', { max: 4095 }), u32('sig')], 'rseq registration'),
  plan('sigmask', [u64('mask')], 'the blocked signals'),
  plan('sigaction', [u64('sig', { min: 1, max: 64 }), ...many(['handler', 'flags', 'restorer', 'mask'])], 'a signal disposition'),
  plan('rlimit', [u64('resource', { max: 15 }), u64('cur'), u64('max')], 'a resource limit'),
  plan('regs', [hex('regs', { min: REGS, max: REGS })], 'struct user_regs_struct'),
  plan(
    'xstate',
    [hex('xstate', { max: 65536 }), u64('len', { min: 1, max: 65536, opt: true }), u64('same', { max: INT, opt: true })],
    "the XSAVE area; len: its size, when the zeros at its end were left out; same: the area of the plan's task number same (its `task` index), an earlier one, the xstate field empty (a tree's tasks mostly have equal areas)",
  ),
  plan(
    'thread',
    [u64('tid', { min: 1, max: PID }), hex('regs', { min: REGS, max: REGS }), hex('xstate', { max: 65536 }), u64('sigmask'), u64('rseq_ptr'), u64('rseq_len', { max: 4095 }), u32('rseq_sig'), u64('tidaddr'), u64('alt_sp'), u32('alt_flags'), u64('alt_size'), hex('pending', { max: SIGINFOS }), hex('comm', { max: 16 }), u64('len', { min: 1, max: 65536, opt: true }), u64('xsame', { max: INT, opt: true })],
    "another thread of the task (len: the size of its xstate, when the zeros at its end were left out; xsame: its xstate is that of the task's thread line number xsame (0: the first), an earlier one, and the xstate field is empty: the threads of a process mostly have equal XSAVE areas)",
  ),
  plan('altstack', [u64('sp'), u32('flags'), u64('size')], 'sigaltstack of the main thread'),
  plan('robust', [u64('head'), u64('len', { min: 24, max: 24 })], 'set_robust_list of the main thread'),
  plan('throbust', [u64('head'), u64('len', { min: 24, max: 24 })], 'set_robust_list of the last thread line'),
  plan('pending', [hex('siginfos', { max: SIGINFOS })], "more of the main thread's pending siginfos"),
  plan('thpending', [hex('siginfos', { max: SIGINFOS })], "more of the last thread line's pending siginfos"),
  plan('shpending', [hex('siginfos', { max: SIGINFOS })], 'more process-wide pending siginfos'),
  plan('itimer', [u64('which', { max: 2 }), ...many(['isec', 'iusec', 'vsec', 'vusec'])], 'setitimer'),
  plan('ptimer', [u64('id', { max: INT }), u64('clock', { max: 15 }), u64('notify', { max: INT }), u64('signo', { max: 64 }), u64('sigval'), u64('tid', { max: PID }), ...many(['isec', 'insec', 'vsec', 'vnsec']), u64('overrun', { max: INT, opt: true })], 'a POSIX timer (overrun: timer_getoverrun, restore_state.c)'),
  plan('subreaper', [bool('value')], 'PR_SET_CHILD_SUBREAPER'),
  plan('nonewprivs', [bool('value')], 'PR_SET_NO_NEW_PRIVS'),
  plan('personality', [u32('value')], 'personality(2)'),
  plan('area', [u64('off'), u64('len'), u32('flags'), u64('vma')], "a range of the task's copy-on-write window it maps when created (restore_cow.c): private anonymous memory, or (vma: the address of its private file mapping, 0 for none) that mapping's file"),
  plan('move', [u64('off'), u64('dst'), u64('len')], 'a window range moved (mremap) to its final address at the map step'),
  plan('zap', [u64('start'), u64('len')], 'inherited pages the task did not have, dropped (MADV_DONTNEED)'),
  plan('guard', [u64('start'), u64('len')], 'a guard region (MADV_GUARD_INSTALL) installed at the finish step, before mlock and mseal'),
  plan('sched', [u64('tid', { min: 1, max: PID }), u64('policy', { max: 6 }), u64('flags', { max: 7 }), i64('nice', { min: -20, max: 19 }), u64('priority', { max: 99 }), ...many(['runtime', 'deadline', 'period']), u64('umin', { max: 1024 }), u64('umax', { max: 1024 }), u32('personality')], "a thread's scheduling (sched_setattr) and personality (restore_attrs.c)"),
  plan('share', [bool('files'), bool('fs')], "the task is created sharing its creator's fd table (CLONE_FILES: it restores no fds of its own) / fs info (CLONE_FS)"),
  plan('affinity', [u64('tid', { min: 1, max: PID }), list('cpus', { elem: 'u64', max: 8191, minCount: 1, maxCount: 8192 })], "a thread's CPU affinity (sched_setaffinity), after its sched line (restore_attrs.c)"),
  plan('attrs', [i64('oom', { min: -1000, max: 1000 }), u64('membarrier', { max: 4 | 16 | 64 | 256 }), u64('mlockall', { oneOf: [0, 2, 6] }), u32('loginuid'), str('root', { nullable: true }), u64('thp', { oneOf: [0, 1, 3] }), u64('stopsig', { oneOf: [0, 20, 21, 22] })], 'oom_score_adj, membarrier registrations, mlockall flags, loginuid, root directory (chroot), PR_SET_THP_DISABLE (1, 3: | PR_THP_DISABLE_EXCEPT_ADVISED), the stop signal of a stopped task (0: SIGSTOP)'),
  // seccomp (docs/restart.md, "Seccomp"; native/helper/restore/restore_seccomp.c)
  plan('scfilter', [id(), i64('prev', { min: -1, max: ID }), u32('flags'), hex('prog', { min: 8, max: 4096 * 8 })], 'a seccomp filter (BPF), once for the whole tree, before the tasks: prev the filter it was installed on (-1 none), flags SECCOMP_FILTER_FLAG_LOG'),
  plan('seccomp', [u64('tid', { min: 1, max: PID }), u64('mode', { min: 1, max: 2 }), i64('filter', { min: -1, max: ID })], "a thread's seccomp mode (1 strict, 2 filter: its newest filter, -1 in strict mode), after the thread lines"),

  // ---- plan: tree actions, in order, then end
  plan('act.clone', [i64('creator', { min: -1, max: PID }), u64('task', { max: PID })], 'creator (-1: the helper) creates task'),
  plan('act.clonep', [u64('creator', { max: PID }), u64('task', { max: PID })], "creator creates task with CLONE_PARENT: born its creator's sibling, in the creator's session"),
  plan('act.setsid', [u64('task', { max: PID })], 'setsid()'),
  plan('act.setpgid', [u64('task', { max: PID }), u64('leader', { max: PID })], "joins the group of the leader's task"),
  plan('act.exit', [u64('task', { max: PID })], 'a zombie or placeholder exits'),
  plan('act.reap', [u64('task', { max: PID }), u64('child', { max: PID })], 'reaps its exited child'),
  plan('act.ctty', [u64('task', { max: PID }), u64('tty', { max: FD })], 'a session leader takes its pty as controlling terminal'),
  plan('act.tcpgrp', [u64('task', { max: PID }), u64('leader', { max: PID })], 'makes that group the foreground of its terminal'),
  plan('end', [], 'the plan is complete'),

  // ---- restore: the steps after the plan (restore.c)
  msg('restore', 'map', [u64('task', { max: PID })], "the task's address space, by its tracer -> mapped"),
  msg('restore', 'pages', [], 'every page record, then the trailer -> loaded'),
  msg('restore', 'eof', [], 'nothing may follow the trailer -> eof'),
  msg('restore', 'commit', [], 'the trailer checked: the commit point'),
  msg('restore', 'finish', [u64('task', { max: PID })], "the task's last state, by its tracer -> finished"),
  msg('restore', 'resume', [], 'every task detached together -> running'),

  // ---- dump: checkpoint commands (dump.c)
  dump('freeze', [u64('pid', { min: 1, max: PID })], 'seize, stop and save every thread -> frozen'),
  dump('state', [u64('pid', { min: 1, max: PID }), u64('proc', { max: PID }), u64('fdmin', { max: INT })], 'what only ptrace or the task can tell (the POSIX timers listed in /proc/PROC/timers), and the /proc files of thread proc (0: none); with an fd table of more than fdmin slots (0: never), the close-on-exec bit of each fd (F_GETFD in the task) -> state'),
  dump('seccomp', [u64('pid', { min: 1, max: PID })], "every thread's seccomp mode and filters (dump_seccomp.c) -> seccomp"),
  dump('runs', [u64('pid', { min: 1, max: PID }), hex('ranges', { min: 16, max: 1024 * 16 })], 'present pages of ranges (start, end pairs, ascending: u64 start | u64 end each, little-endian) -> runs'),
  dump('shared', [u64('pid', { min: 1, max: PID }), u64('parent', { min: 1, max: PID }), list('ranges', { elem: 'u64', minCount: 2, maxCount: 2048 })], 'pages of the ranges (start,end,start,end..., ascending) the two still share since the fork (dump_cow.c) -> shared'),
  dump('pages', [u64('pid', { min: 1, max: PID }), u32('task'), i64('seed', { min: -1, max: U32 })], 'then run lines and end: page records -> pages'),
  dump('scanpages', [u64('pid', { min: 1, max: PID }), u32('task'), i64('seed', { min: -1, max: U32 }), u64('runs')], "page records of the runs the task's `runs` commands found since its `state`, in their order (runs: how many the coordinator collected; any other count is refused) -> pages"),
  dump('compress', [enm('algo', { values: ['lz4'] })], 'page records compressed -> compress'),
  dump('reserve', [u64('bytes')], "the page bytes to come: the output's blocks for them allocated ahead, while the metadata is made (pipeline_writer.c; no answer)"),
  dump('pipe', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], "a pipe's contents -> pipe"),
  dump('fown', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], 'F_GETOWN_EX and F_GETSIG -> fown'),
  dump('tty', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], 'a pty -> tty'),
  dump('ttymodes', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], "a terminal's modes (the root's external stdio) -> ttymodes"),
  dump('ttydev', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], 'the terminal a tty fd (/dev/tty, a slave) leads to (TIOCGDEV) -> ttydev'),
  dump('object', [str('path')], 'a content object -> object'),
  dump('objdump', [u32('obj'), u32('seed'), str('path')], 'then run lines and end: object records -> objdump'),
  dump('ipc', [u64('pid', { min: 1, max: PID })], "the task's System V namespace -> ipc"),
  dump('sem', [u64('id', { max: INT }), u64('nsems', { min: 1, max: 65536 })], 'semaphore values -> sem'),
  dump('msg', [u64('id', { max: INT })], 'queued messages -> msg'),
  dump('shmdata', [u64('pid', { min: 1, max: PID }), u64('addr'), u64('size'), u32('seg'), u32('seed')], 'SHM records of a segment -> shmdata'),
  dump('unixdiag', [], 'unix sockets of the system -> unixdiag'),
  dump('unixq', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD }), u64('rq')], 'a unix socket (rq: the bytes sock_diag counts queued, 0: not counted) -> unixq'),
  dump('inetq', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD }), bool('lock')], 'an IP socket -> inetq'),
  dump('rawsockq', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], 'a raw IP, ping, packet or netlink socket -> rawsockq'),
  dump('tcprepair', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], 'out of repair mode again -> tcprepair'),
  dump('tcpkeep', [u64('pid', { min: 1, max: PID }), u64('fd', { max: FD })], 'a connection handed to the keeper -> tcpkeep'),
  dump('tcpkeeper', [], 'start the keeper -> tcpkeeper'),
  dump('drain', [], 'the image written -> drained'),
  dump('ack', [u64('ms', { max: 86400000 }), u32('digest'), u32('records')], 'wait for the reader to acknowledge -> acked'),
  dump('release', [], 'let every task go -> released'),
  dump('kill', [], 'kill every task -> killed'),
  dump('check', [], "then plan lines up to end: read by restart's plan parser, nothing created (checkpoint's check of its image) -> checked"),
  msg('dumprun', 'run', [u64('addr'), u64('npages')], 'a run of pages'),
  msg('dumprun', 'end', [], 'the runs are complete'),

  // ---- events: helper -> coordinator, one JSON object per line {"ev": name, ...}
  ev('error', [str('phase'), str('object'), str('syscall'), i64('errno', { min: 0, max: 4095, c: 'err' }), str('msg')], 'a failure: the helper undoes what it did and exits non-zero'),
  ev('progress', [u64('bytes')], 'bytes of pages moved so far by the current page command'),
  ev('frozen', [u64('pid'), u64('threads'), u64('tid')], 'freeze (tid: the thread the helper works through, the main one unless it has exited)'),
  ev('state', [], 'state: registers, signals, timers of the selected task', { ts: "import('./dump-task.js').StateFacts" }),
  ev('seccomp', [u64('pid'), json('threads', { ts: '[number, number, [number, string][]][]' })], 'seccomp: [tid, mode, [[metadata flags, BPF as hex], ...] oldest first] per thread not in mode 0'),
  ev('smaps', [u64('pid', { max: PID }), u64('bin'), u64('last', { max: 1 })], "smaps: a part of a long /proc/PID/smaps (the state said smaps 1), its kept lines (whole mappings) in the binary frame of bin bytes written just before; last: the final part"),
  ev('runs', [u64('pid'), u64('start'), json('runs', { ts: '[number, number][]' }), json('guards', { ts: '[number, number][]' })], 'runs: the present pages of a range, [address, npages], and its guard regions (MADV_GUARD_INSTALL)'),
  ev('shared', [u64('start'), json('runs', { ts: '[number, number][]' })], 'shared: the runs of the ranges shared with the parent, [address, npages] (start: the first range\'s)'),
  ev('pages', [u64('bytes'), u64('stored'), u64('records'), u64('digest')], 'pages'),
  ev('compress', [], 'compress'),
  ev('pipe', [u64('size'), str('data', { hexText: true })], 'pipe: the contents as hex'),
  ev('fown', [u64('type'), i64('pid'), u64('sig')], 'fown: type 0 tid, 1 pid, 2 pgrp'),
  ev('tty', [u64('index'), u64('locked'), u64('pkt'), u64('excl'), u64('settings'), ...['iflag', 'oflag', 'cflag', 'lflag', 'line'].map((n) => u64(n)), str('cc', { hexText: true }), ...many(['ispeed', 'ospeed', 'rows', 'cols', 'xpix', 'ypix']), u64('inq'), u64('outq'), i64('uid'), i64('gid'), i64('mode'), str('out', { hexText: true }), str('lines'), str('partial', { hexText: true }), u64('input'), u64('output')], 'tty: a pty pair, through its master (inq/outq: bytes queued, counted; out, lines, partial: the bytes, read and put back; input 0: the input was not read (putting it back needs CAP_SYS_ADMIN); output 0: the output was not read (packet mode, or the slave cannot write: stopped or full); uid/gid/mode of /dev/pts/N, -1 unknown)'),
  ev('ttydev', [u64('dev'), u64('err')], 'ttydev: the device number of the terminal (err: errno, EIO: hung up)'),
  ev('ttymodes', [u64('settings'), ...['iflag', 'oflag', 'cflag', 'lflag', 'line'].map((n) => u64(n)), str('cc', { hexText: true }), ...many(['ispeed', 'ospeed', 'rows', 'cols', 'xpix', 'ypix'])], 'ttymodes: a terminal\'s termios and window size (settings 0: unreadable)'),
  ev('object', [i64('size'), i64('seals'), i64('mode'), u64('uid'), u64('gid'), i64('nlink'), i64('atime_s'), i64('atime_ns', { min: 0, max: 999999999 }), i64('mtime_s'), i64('mtime_ns', { min: 0, max: 999999999 }), json('runs', { ts: '[number, number][]' })], 'object: its times (s, ns) and the [byte offset, npages] runs that hold data'),
  ev('objdump', [u64('bytes'), u64('stored'), u64('records'), u64('digest')], 'objdump'),
  ev('ipc', [i64('own'), str('shm', { hexText: true }), str('sem', { hexText: true }), str('msg', { hexText: true })], 'ipc: /proc/sysvipc files as the namespace shows them'),
  ev('sem', [i64('denied', { opt: true }), json('values', { ts: 'number[]', opt: true }), json('pids', { ts: 'number[]', opt: true })], 'sem: denied (an errno: not ours to read), or the values and last pids'),
  ev('msg', [u64('qbytes'), json('messages', { ts: '[string, string][]' })], 'msg'),
  ev('shmdata', [u64('bytes'), u64('records'), u64('digest')], 'shmdata'),
  ev('unixdiag', [json('socks', { ts: "import('./fds/unix.js').DiagSocket[]" })], 'unixdiag: every unix socket of the system'),
  ev('unixq', [], 'unixq: a unix socket', { ts: "import('./fds/unix.js').SocketQueue" }),
  ev('inetq', [], 'inetq: an IP socket', { ts: "import('./fds/inet.js').InetFacts" }),
  ev('rawsockq', [], 'rawsockq: a raw IP, ping, packet or netlink socket', { ts: "import('./fds/rawsock.js').RawSockFacts" }),
  ev('tcprepair', [], 'tcprepair'),
  ev('tcpkeep', [], 'tcpkeep'),
  ev('tcpkeeper', [u64('pid')], 'tcpkeeper'),
  ev('drained', [], 'drain'),
  ev('acked', [], 'ack'),
  ev('released', [], 'release'),
  ev('killed', [], 'kill'),
  ev('planned', [], 'the plan is read (and checked)'),
  ev('checked', [str('phase', { opt: true }), str('object', { opt: true }), str('syscall', { opt: true }), i64('errno', { min: 0, max: 4095, c: 'err', opt: true }), str('msg', { opt: true })], "check: the plan read, or the first failure (as an error's fields) and the helper goes on"),
  ev('created', [json('pids', { ts: 'number[]' }), json('nspids', { ts: 'number[]' })], 'every task exists: pids as the helper and as the tasks see them'),
  ev('mapped', [u64('task'), u64('us')], 'map'),
  ev('finished', [u64('task'), u64('us')], 'finish'),
  ev('loaded', [u64('bytes'), u64('shmbytes'), u64('records'), u64('digest'), str('trailer', { hexText: true }), u64('stored', { opt: true })], 'pages (restart) or --verify: what was read'),
  ev('spooled', [u64('bytes'), u64('shmbytes'), u64('records'), u64('digest'), str('trailer', { hexText: true })], 'the image is in memory'),
  ev('eof', [], 'eof'),
  ev('running', [json('pids', { ts: 'number[]' }), json('nspids', { ts: 'number[]' })], 'resume: the tree runs'),
  ev('exit', [json('pids', { ts: 'number[]' }), json('nspids', { ts: 'number[]' }), i64('code'), i64('signal')], "the root's end (restart without --detach)"),
];
