#!/usr/bin/env python3
# A real interpreter for the bench's `real` group (scripts/bench.mjs): 16 MiB of data and a
# listening TCP socket on loopback; on SIGTERM it checks its data and its socket and writes
# PASS (or why not) to --out. Ready: --out.ready exists.
import hashlib, os, signal, socket, sys, time

out = sys.argv[sys.argv.index('--out') + 1]
data = bytearray(os.urandom(1 << 20) * 16)
digest = hashlib.sha256(data).hexdigest()
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(8)
port = srv.getsockname()[1]
pid = os.getpid()

def check(*_):
    why = []
    if hashlib.sha256(data).hexdigest() != digest: why.append('data changed')
    if os.getpid() != pid: why.append('pid changed')
    try:
        c = socket.create_connection(('127.0.0.1', port), timeout=5)
        a, _ = srv.accept()
        c.close(); a.close()
    except OSError as e:
        why.append(f'listening socket: {e}')
    with open(out, 'w') as f:
        f.write(('FAIL ' + ', '.join(why) if why else 'PASS') + '\n')

signal.signal(signal.SIGTERM, check)
open(out + '.ready', 'w').close()
while True:
    time.sleep(0.05)
