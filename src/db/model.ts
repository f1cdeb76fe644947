import type mongoose from 'mongoose';
import type { Connection, Model } from 'mongoose';

export type Doc = Record<string, unknown>;

/**
 * The connection's model of that name, built once. Typed loosely on purpose: repositories map
 * documents to their own plain records by hand, and mongoose's inference over large schemas
 * costs the type checker more than it gives.
 */
export function modelOf(connection: Connection, name: string, schema: mongoose.Schema): Model<Doc> {
  return (
    (connection.models[name] as Model<Doc> | undefined) ??
    (connection.model(name, schema) as unknown as Model<Doc>)
  );
}
