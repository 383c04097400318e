/** Checks of the FILES record: open-file objects and pipes. */
import type { CborValue } from './cbor.js';
import { MAX_FD, MEMFD_MAX, PID_MAX, Where, arr, bytes, field, int, obj, str, u64 } from './check.js';
import type { FileImage, ImageFiles, PipeImage } from './types.js';
import { checkUnix, checkUnixLinks } from './validate-unix.js';

export function checkFiles(v: CborValue, path: string): ImageFiles {
  const w = new Where(path);
  const o = obj(v, w);
  const pipes = arr(o.pipes, w.at('pipes')).map((x, i): PipeImage => {
    const pw = w.at('pipes').at(i);
    const p = obj(x, pw);
    const size = field(p, 'size', pw, (y, ww) => int(y, ww, 4096, 1 << 26));
    return { id: field(p, 'id', pw, (y, ww) => int(y, ww, 0, 1 << 30)), size, data: field(p, 'data', pw, (y, ww) => bytes(y, ww, 0, size)) };
  });
  const pipeIds = new Set(pipes.map((p) => p.id));
  if (pipeIds.size !== pipes.length) w.at('pipes').fail('duplicate pipe ids');
  const files = arr(o.files, w.at('files')).map((x, i): FileImage => {
    const fw = w.at('files').at(i);
    const f = obj(x, fw);
    const pipe = f.pipe === undefined ? undefined : obj(f.pipe, fw.at('pipe'));
    const leak = f.leak === undefined ? undefined : obj(f.leak, fw.at('leak'));
    const file: FileImage = {
      id: field(f, 'id', fw, (y, ww) => int(y, ww, 0, 1 << 30)),
      kind: field(f, 'kind', fw, (y, ww) => str(y, ww, 32)),
      path: field(f, 'path', fw, str),
      flags: field(f, 'flags', fw, (y, ww) => int(y, ww, 0, 0xffffffff)),
      pos: field(f, 'pos', fw, (y, ww) => int(y, ww)),
      stdio: f.stdio === undefined ? undefined : field(f, 'stdio', fw, (y, ww) => int(y, ww, 0, 2)),
      params: f.params === undefined ? undefined : arr(f.params, fw.at('params'), 16).map((y, i) => u64(y, fw.at('params').at(i))),
      data: f.data === undefined ? undefined : field(f, 'data', fw, (y, ww) => bytes(y, ww, 0, MEMFD_MAX)),
      pipe: pipe && {
        id: field(pipe, 'id', fw.at('pipe'), (y, ww) => int(y, ww, 0, 1 << 30)),
        end: field(pipe, 'end', fw.at('pipe'), (y, ww) => (str(y, ww) === 'read' ? 'read' : str(y, ww) === 'write' ? 'write' : ww.fail('expected read or write'))),
      },
      leak: leak && {
        pid: field(leak, 'pid', fw.at('leak'), (y, ww) => int(y, ww, 1, PID_MAX)),
        fd: field(leak, 'fd', fw.at('leak'), (y, ww) => int(y, ww, 0, MAX_FD)),
        comm: field(leak, 'comm', fw.at('leak'), (y, ww) => str(y, ww, 16)),
      },
      unix: f.unix === undefined ? undefined : checkUnix(f.unix, fw.at('unix')),
    };
    if (file.kind === 'pipe' && (!file.pipe || !pipeIds.has(file.pipe.id))) fw.fail('pipe end of an unknown pipe');
    return file;
  });
  if (new Set(files.map((f) => f.id)).size !== files.length) w.at('files').fail('duplicate file ids');
  checkUnixLinks(files, w.at('files'));
  return { files, pipes };
}

