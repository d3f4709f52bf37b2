import { native } from './native';

/** Every `code` a TorchVideoError can carry, from the addon's one list (cpp/errors.h). */
export const errorCodes: readonly string[] = Object.freeze([...native.errorCodes]);
