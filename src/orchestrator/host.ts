/** This machine's identity as an image header records it, and the compatibility rule. */
import fs from 'node:fs';
import os from 'node:os';
import { HostMismatchError } from '../errors.js';
import type { ImageHeader } from '../image/types.js';
import { native } from '../native/addon.js';

export interface HostIdentity {
  kernel: { release: string; version: string };
  cpu: { xcr0: bigint | number; xstateSize: number; flags: string[] };
}

function cpuFlags(): string[] {
  const text = fs.readFileSync('/proc/cpuinfo', 'latin1');
  const line = text.split('\n').find((l) => l.startsWith('flags'));
  return line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/).sort() : [];
}

/** The xsave area size the kernel uses for ptrace (CPUID leaf 0xD is what it follows). */
export function hostIdentity(xstateSize: number): HostIdentity {
  const x = native().xcr0();
  return {
    kernel: { release: os.release(), version: os.version() },
    cpu: { xcr0: x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x, xstateSize, flags: cpuFlags() },
  };
}

/** Differences that make a restart unsafe here; empty when compatible. */
export function hostDifferences(img: ImageHeader, xstateSize: number | undefined): string[] {
  const here = hostIdentity(xstateSize ?? img.cpu.xstateSize);
  const diffs: string[] = [];
  if (img.kernel.release !== here.kernel.release) diffs.push(`kernel release ${img.kernel.release} (image) vs ${here.kernel.release} (here)`);
  else if (img.kernel.version !== here.kernel.version) diffs.push(`kernel build "${img.kernel.version}" (image) vs "${here.kernel.version}" (here)`);
  if (BigInt(img.cpu.xcr0) !== BigInt(here.cpu.xcr0))
    diffs.push(`CPU xsave features 0x${BigInt(img.cpu.xcr0).toString(16)} (image) vs 0x${BigInt(here.cpu.xcr0).toString(16)} (here)`);
  const have = new Set(here.cpu.flags);
  const missing = img.cpu.flags.filter((f) => !have.has(f));
  if (missing.length) diffs.push(`CPU features missing here: ${missing.slice(0, 12).join(' ')}${missing.length > 12 ? ' ...' : ''}`);
  return diffs;
}

export function checkHost(img: ImageHeader, force: boolean): string[] {
  const diffs = hostDifferences(img, undefined);
  if (diffs.length && !force)
    throw new HostMismatchError(`image was made on another kernel or CPU: ${diffs.join('; ')} (use --force to try anyway)`);
  return diffs;
}
