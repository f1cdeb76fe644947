import type { Doc } from './values.js';

const CODE_NAMES: Record<number, string> = {
  1: 'InternalError',
  2: 'BadValue',
  9: 'FailedToParse',
  14: 'TypeMismatch',
  20: 'IllegalOperation',
  26: 'NamespaceNotFound',
  27: 'IndexNotFound',
  40: 'ConflictingUpdateOperators',
  43: 'CursorNotFound',
  48: 'NamespaceExists',
  52: 'DollarPrefixedFieldName',
  59: 'CommandNotFound',
  66: 'ImmutableField',
  67: 'CannotCreateIndex',
  72: 'InvalidOptions',
  73: 'InvalidNamespace',
  85: 'IndexOptionsConflict',
  86: 'IndexKeySpecsConflict',
  166: 'CommandNotSupportedOnView',
  13113: 'MergeStageNoMatchingDocument',
  11000: 'DuplicateKey',
};

/** An error that becomes an `ok: 0` reply (or a write error) with MongoDB's code and code name. */
export class MongoCommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly extra: Doc;
  constructor(code: number, message: string, extra: Doc = {}) {
    super(message);
    this.code = code;
    // mongod names the codes it has no name for after the place that raised them
    this.codeName = CODE_NAMES[code] ?? `Location${code}`;
    this.extra = extra;
  }

  /** The top-level reply shape of a failed command. */
  toReply(): Doc {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }

  /** The shape of one entry of `writeErrors`. */
  toWriteError(index: number): Doc {
    return { index, code: this.code, errmsg: this.message, ...this.extra };
  }
}

export function asCommandError(err: unknown): MongoCommandError {
  if (err instanceof MongoCommandError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // mingo reports the immutable _id this way
  if (/immutable field '_id'/.test(message)) return new MongoCommandError(66, message);
  return new MongoCommandError(2, message);
}
