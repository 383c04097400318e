/**
 * `ucr completion bash|zsh`: completion scripts generated from the commander definitions, so
 * they follow every command, option and choice: option values from their choices, files for
 * <file> options and image arguments, pids for a checkpoint's pid, command names for help.
 */
import type { Argument, Command, Option } from 'commander';

type Values = { words: string[] } | 'files' | 'pids' | 'none';

function optionValues(o: Option): Values {
  if (o.argChoices) return { words: o.argChoices };
  if (/<file/.test(o.flags)) return 'files';
  if (/<(pid|sid|pgid)>/.test(o.flags)) return 'pids';
  return 'none';
}

function argumentValues(cmd: Command, a: Argument | undefined, commands: string[]): Values {
  if (!a) return 'none';
  if (a.argChoices) return { words: a.argChoices };
  if (a.name() === 'pid') return 'pids';
  if (a.name() === 'file') return 'files';
  if (cmd.name() === 'help') return { words: commands };
  return 'none';
}

const takesValue = (o: Option) => o.required || o.optional;
const flagsOf = (o: Option) => [o.short, o.long].filter((f): f is string => !!f);

function bashValues(v: Values): string {
  if (v === 'files') return 'COMPREPLY=($(compgen -f -- "$cur"))';
  if (v === 'pids') return 'COMPREPLY=($(compgen -W "$(cd /proc && ls -d [0-9]* 2>/dev/null)" -- "$cur"))';
  if (v === 'none') return 'COMPREPLY=()';
  return `COMPREPLY=($(compgen -W "${v.words.join(' ')}" -- "$cur"))`;
}

function bash(program: Command): string {
  const names = program.commands.map((c) => c.name());
  const globals = program.options.flatMap(flagsOf);
  const valueCases = (cmd: Command) =>
    cmd.options
      .filter(takesValue)
      .map((o) => `        ${flagsOf(o).join('|')}) ${bashValues(optionValues(o))}; return ;;`)
      .join('\n');
  const perCommand = program.commands
    .map(
      (c) => `    ${c.name()})
      case "$prev" in
${valueCases(c)}
      esac
      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${[...c.options.flatMap(flagsOf), '--help'].join(' ')}" -- "$cur"))
      else ${bashValues(argumentValues(c, c.registeredArguments[0], names))}; fi ;;`,
    )
    .join('\n');
  return `# bash completion for ucr: eval "$(ucr completion bash)"
_ucr() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in ${names.join('|')}) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  case "$cmd" in
    "")
      case "$prev" in
${valueCases(program)}
      esac
      COMPREPLY=($(compgen -W "${[...names, ...globals, '--help', '--version'].join(' ')}" -- "$cur")) ;;
${perCommand}
  esac
}
complete -o filenames -F _ucr ucr
`;
}

/** Text inside a zsh _arguments spec: [ ] : \\ and quotes escaped. */
const zq = (s: string) => s.replace(/[\\[\]:]/g, (c) => `\\${c}`).replace(/'/g, `'\\''`);

function zshValues(v: Values): string {
  if (v === 'files') return '_files';
  if (v === 'pids') return '_pids';
  if (v === 'none') return ' ';
  return `(${v.words.join(' ')})`;
}

function zshSpecs(cmd: Command): string[] {
  return cmd.options.map((o) => {
    const flags = flagsOf(o);
    const head = flags.length > 1 ? `(${flags.join(' ')})'{${flags.join(',')}}'` : flags[0]!;
    const value = takesValue(o) ? `:${zq(/[<[](.+)[>\]]$/.exec(o.flags)?.[1] ?? 'value')}:${zshValues(optionValues(o))}` : '';
    return `'${head}[${zq(o.description.split(/[;(]/)[0]!.trim())}]${value}'`;
  });
}

function zsh(program: Command): string {
  const names = program.commands.map((c) => c.name());
  const commands = program.commands.map((c) => `'${c.name()}:${zq(c.description())}'`).join(' ');
  const perCommand = program.commands
    .map((c) => {
      const a = c.registeredArguments[0];
      const arg = a ? ` '${a.required ? '' : ':'}:${zq(a.name())}:${zshValues(argumentValues(c, a, names))}'` : '';
      return `      ${c.name()}) _arguments ${zshSpecs(c).join(' ')}${arg} ;;`;
    })
    .join('\n');
  return `#compdef ucr
# zsh completion for ucr: eval "$(ucr completion zsh)" (after compinit)
_ucr() {
  local state line
  local -a commands
  commands=(${commands})
  _arguments -C ${zshSpecs(program).join(' ')} '1: :->command' '*:: :->args'
  case $state in
    command) _describe 'command' commands ;;
    args)
      case $line[1] in
${perCommand}
      esac ;;
  esac
}
compdef _ucr ucr
`;
}

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  return shell === 'bash' ? bash(program) : zsh(program);
}
