// Old option names kept as aliases for a release: each still works, warns once per process (a
// DeprecationWarning with a stable code, so `--no-deprecation` or a `warning` listener can tell it), and
// may not be given together with its new name.
const warned = new Set<string>();

/**
 * The value of `options[name]`, or of its deprecated alias `options[alias]` (warning once under `code`).
 * @throws RangeError when both are given with different values.
 */
export function optionWithAlias<T>(
  options: Record<string, unknown>,
  name: string,
  alias: string,
  code: string,
  where: string,
): T | undefined {
  const value = options[name] as T | undefined;
  const old = options[alias] as T | undefined;
  if (old === undefined) return value;
  if (value !== undefined && value !== old) {
    throw new RangeError(`expected ${where}.${name} or its old name ${where}.${alias}, not both with different values`);
  }
  warnDeprecated(`${where}.${alias} is deprecated: use ${where}.${name}`, code);
  return value ?? old;
}

/** A DeprecationWarning under `code`, once per process and code. */
export function warnDeprecated(message: string, code: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { type: 'DeprecationWarning', code });
}
