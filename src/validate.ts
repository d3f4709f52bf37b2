// Argument checks shared by the public API. Each message names the argument and what was expected:
// "expected <name> to be <what>, got <value>".

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'object'}`;
  return `${typeof value} ${String(value)}`;
}

export function expectType(condition: boolean, name: string, what: string, value: unknown): void {
  if (!condition) throw new TypeError(`expected ${name} to be ${what}, got ${describe(value)}`);
}

export function expectRange(condition: boolean, name: string, what: string, value: unknown): void {
  if (!condition) throw new RangeError(`expected ${name} to be ${what}, got ${describe(value)}`);
}

export function checkString(value: unknown, name: string): string {
  expectType(typeof value === 'string', name, 'a string', value);
  expectRange((value as string).length > 0, name, 'a non-empty string', value);
  return value as string;
}

export function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  expectType(typeof value === 'boolean', name, 'a boolean', value);
  return value as boolean;
}

export function checkInteger(
  value: unknown,
  name: string,
  fallback: number | undefined,
  { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {},
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  expectType(typeof value === 'number', name, 'a number', value);
  const number = value as number;
  const bounds = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
  expectRange(Number.isInteger(number) && number >= min && number <= max, name, `an integer ${bounds}`, value);
  return number;
}

export function checkOptions(value: unknown, name = 'options'): Record<string, unknown> {
  if (value === undefined) return {};
  expectType(typeof value === 'object' && value !== null && !Array.isArray(value), name, 'an object', value);
  return value as Record<string, unknown>;
}

const DEVICE_PATTERN = /^(cpu|cuda(:\d{1,3})?)$/;

export function checkDevice(value: unknown, name = 'device'): string {
  expectType(typeof value === 'string', name, "a device string ('cpu', 'cuda' or 'cuda:N')", value);
  expectRange(DEVICE_PATTERN.test(value as string), name, "'cpu', 'cuda' or 'cuda:N'", value);
  return value as string;
}

/**
 * An optional rate option (a learning rate, weight decay, momentum): a finite number >= 0, or `fallback`.
 * @throws TypeError when not a number; RangeError when negative or not finite.
 */
export function checkRate(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  expectType(typeof value === 'number', name, 'a number', value);
  expectRange(Number.isFinite(value as number) && (value as number) >= 0, name, 'a finite number >= 0', value);
  return value as number;
}
