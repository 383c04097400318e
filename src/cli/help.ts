/**
 * `ucr help <command>`: a man-style page (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES, EXIT
 * STATUS) built from the command's own definition plus the text here; the examples also end
 * `ucr <command> --help`.
 */
import type { Command } from 'commander';

export const EXAMPLES: Record<string, string[]> = {
  checkpoint: [
    'ucr checkpoint 1234 -o app.ucr                 # save process 1234 and its descendants; they run on',
    'ucr checkpoint 1234 -o app.ucr --kill          # save, then kill them',
    'ucr checkpoint --session 1234 -o session.ucr   # every process of a session',
    'ucr checkpoint 1234 -o app.ucr --no-clobber    # never replace an existing app.ucr',
    'ucr checkpoint 1234 --kill -o - | ssh host ucr restart -i -   # move it',
    'mkfifo ack; ucr checkpoint 1234 --kill-after-ack --ack-fd 3 -o - 3<ack | ucr restart -i - --ack-fd 4 4>ack   # killed only once the restart has the whole image',
    'ucr checkpoint 1234 -o app.ucr --trace ckpt.json && ucr inspect --trace ckpt.json',
  ],
  restart: [
    'ucr restart -i app.ucr                         # in the foreground; exits with its status',
    'ucr restart -i app.ucr --detach                # return once it runs',
    'ucr restart -i app.ucr --pids auto --detach    # a copy at free pids',
    'ucr restart -i app.ucr --pidns --detach        # at its pids, in a new pid namespace',
    'ucr restart -i app.ucr --inherit-fd 1=3 3>out.log   # its external stdout goes to out.log',
  ],
  inspect: [
    'ucr inspect app.ucr                            # one screen: tree, memory, fds, sockets, warnings',
    'ucr inspect app.ucr --all | less               # every mapping, fd, register and timer',
    'ucr inspect app.ucr --task 1234                # everything about one task',
    'ucr inspect app.ucr --verify                   # also check every page checksum',
    'ucr inspect app.ucr --json | jq .meta.tree',
    'ucr inspect --trace restart.json               # a --trace file as a table',
  ],
  help: ['ucr help restart'],
  completion: ['eval "$(ucr completion bash)"         # in ~/.bashrc', 'eval "$(ucr completion zsh)"          # in ~/.zshrc'],
  version: ['ucr version'],
};

const DESCRIPTION: Record<string, string> = {
  checkpoint: `Saves a running process and all its descendants (or every process of a session or process
group) to one image. The image file is created 0600 and appears only when complete; an
existing file is replaced atomically (-v says so; --no-clobber refuses). '-' streams the image
to stdout (never to a terminal); a named pipe or a character device (/dev/stdout, /dev/null)
is written into, never replaced. The tree keeps running unless --kill, and is left exactly as it was on any failure.
What cannot be restored faithfully is refused here, in one line naming it.`,
  restart: `Rebuilds the tree of an image top-down at its pids, with its memory, threads, files, pipes,
sockets and the rest, and lets it run. Without --detach, ucr waits for the root and exits
with its status. Needs root, or CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE; a caller that is not
root restores only images of its own credentials. On any failure no process is left.`,
  inspect: `Describes an image after checking that it is complete: by default one screen with the tree
(memory and fds per task), fds by kind, sockets and their peers, shared objects, leaks, and
warnings (external stdio, and what a restart here would refuse now). --all or --task PID
show every mapping, fd, register, signal and timer. --json is the machine form.`,
  help: 'Shows the manual of a command.',
  completion: `Prints a completion script for bash or zsh (commands, options, their values, pids and files).`,
  version: 'Prints the version of ucr and of the image format it writes.',
};

const EXIT_STATUS = `0 success; 1 an error (one line on stderr: ucr: <object>: <reason>); 2 a usage error;
130, 143 interrupted by SIGINT, SIGTERM (nothing is left half-done; once a restarted tree
runs, ucr only stops waiting for its root and it runs on); 141 the reader of stdout
went away; restart without --detach: the restored root's own status (128+N if killed by N).`;

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => (l ? `    ${l}` : l))
    .join('\n');

export function manPage(cmd: Command): string {
  const help = cmd.createHelp();
  const options = help
    .visibleOptions(cmd)
    .map((o) => `${help.optionTerm(o)}\n    ${help.optionDescription(o)}`)
    .join('\n');
  return [
    'NAME',
    indent(`ucr ${cmd.name()} - ${cmd.description()}`),
    '',
    'SYNOPSIS',
    indent(`ucr ${cmd.name()} ${cmd.usage()}`),
    '',
    'DESCRIPTION',
    indent(DESCRIPTION[cmd.name()] ?? cmd.description()),
    '',
    ...(options ? ['OPTIONS', indent(options), ''] : []),
    'EXAMPLES',
    indent((EXAMPLES[cmd.name()] ?? []).join('\n')),
    '',
    'EXIT STATUS',
    indent(EXIT_STATUS),
    '',
  ].join('\n');
}
