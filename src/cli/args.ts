// The command line's parsing, shared by every command: parseArgs with --help / -h and the usage on a bad
// flag, and the number parsers whose messages name the flag and what it takes. One copy, so every command
// accepts and refuses the same way.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs' result for `options` plus --help. */
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; allowPositionals: true }>>;

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;

/**
 * Parses a command's flags (--help / -h added), or returns 'help' when they ask for the usage.
 * A flag that takes a value may be given a negative number (`--lr -1` reaches the flag's own check:
 * parseArgs alone would call a value starting with '-' ambiguous).
 * @throws {TypeError} parseArgs' own error (an unknown flag, a flag without its value), with the usage;
 *   its `code` (ERR_PARSE_ARGS_*) is kept.
 */
export function parseCommand<O extends Options>(argv: string[], options: O, usage: string): Parsed<O> | 'help' {
  const all = { ...options, ...HELP };
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = /^--([a-z0-9-]+)$/.exec(argv[i])?.[1];
    const takesValue = flag !== undefined && Object.hasOwn(all, flag) && all[flag].type === 'string';
    if (takesValue && i + 1 < argv.length && /^-\.?\d/.test(argv[i + 1])) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: true });
  } catch (error) {
    const wrapped = new TypeError(`${(error as Error).message}\nUsage: ${usage}`, { cause: error });
    (wrapped as TypeError & { code?: string }).code = (error as { code?: string }).code;
    throw wrapped;
  }
  if ((parsed.values as { help?: boolean }).help) return 'help';
  return parsed as Parsed<O>;
}

/** Writes a command's usage on stdout, for --help; resolves to the exit code (0). */
export function printUsage(usage: string): number {
  process.stdout.write(`Usage: ${usage}\n`);
  return 0;
}

// Decimal notation only: Number('0x10'), Number('') and Number(' 1') are numbers too, and no flag means them.
const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const toNumber = (text: string) => (NUMBER_PATTERN.test(text) ? Number(text) : NaN);

/**
 * `--flag`'s value as an integer in [min, max] (undefined when not given).
 * @throws {RangeError} naming the flag and the range, with the text given.
 */
export function integerFlag(text: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const value = toNumber(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range =
      max !== Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]` : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw new RangeError(`expected --${flag} to be ${range}, got '${text}'`);
  }
  return value;
}

/**
 * `--flag`'s value as a positive integer (undefined when not given).
 * @throws {RangeError} naming the flag, with the text given.
 */
export const positiveIntegerFlag = (text: string | undefined, flag: string): number | undefined => integerFlag(text, flag, 1);

/**
 * `--flag`'s value as a finite number >= 0, or > 0 with `positive` (undefined when not given); `unit`
 * names what it counts in the message ('seconds').
 * @throws {RangeError} naming the flag, with the text given.
 */
export function numberFlag(
  text: string | undefined,
  flag: string,
  { positive, unit }: { positive: boolean; unit?: string },
): number | undefined {
  if (text === undefined) return undefined;
  const value = toNumber(text);
  if (!Number.isFinite(value) || value < 0 || (positive && value === 0)) {
    const what = positive ? `a positive number${unit ? ` of ${unit}` : ''}` : 'a finite number >= 0';
    throw new RangeError(`expected --${flag} to be ${what}, got '${text}'`);
  }
  return value;
}

/**
 * `--flag`'s value as a probability in [0, 1] (undefined when not given).
 * @throws {RangeError} naming the flag, with the text given.
 */
export function probabilityFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = toNumber(text);
  if (!(value >= 0 && value <= 1)) throw new RangeError(`expected --${flag} to be a probability in [0, 1], got '${text}'`);
  return value;
}

/**
 * `--flag`'s value as a TCP port, 1-65535 (undefined when not given).
 * @throws {RangeError} naming the flag, with the text given.
 */
export function portFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= 65535)) throw new RangeError(`expected --${flag} to be a TCP port (1-65535), got '${text}'`);
  return value;
}

/**
 * `--flag`'s value when it is one of `choices` (undefined when not given).
 * @throws {RangeError} naming the flag and the choices ('pad or skip'), with the text given.
 */
export function choiceFlag<C extends string>(text: string | undefined, flag: string, choices: readonly C[]): C | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    const listed = choices.length > 1 ? `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}` : choices[0];
    throw new RangeError(`expected --${flag} to be ${listed}, got '${text}'`);
  }
  return text as C;
}

/**
 * Checks a flag the command cannot run without: a RangeError that says what it takes
 * (`what`: '--model MODEL.pt') and shows the usage when it is missing or empty.
 */
export function requiredFlag<T>(value: T, what: string, usage: string): asserts value is NonNullable<T> {
  if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) {
    throw new RangeError(`expected ${what}\nUsage: ${usage}`);
  }
}
