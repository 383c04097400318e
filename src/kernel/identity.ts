/**
 * Is a file at a path still the one the checkpoint saw? Size and mtime can be made the same by
 * anyone who replaces it (cp -p, touch -r); the inode and the device cannot. Both are recorded
 * at checkpoint for mapped and open files and compared here, naming what differs.
 */
import type fs from 'node:fs';

/** st_dev as major:minor (the kernel's encoding of dev_t). */
export function devText(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Why st is not the file recorded (ino, and dev when the image has it), or undefined. */
export function identityChange(st: fs.Stats, was: { ino: number | bigint; dev?: number | bigint }): string | undefined {
  if (was.dev !== undefined && st.dev !== Number(was.dev)) return `it is on device ${devText(st.dev)}, it was on ${devText(Number(was.dev))} at checkpoint`;
  if (st.ino !== Number(was.ino)) return `its inode is ${st.ino}, it was ${was.ino} at checkpoint`;
  return undefined;
}
