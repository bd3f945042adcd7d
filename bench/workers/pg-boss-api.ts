import type PgBoss10 from 'pg-boss';
import type { PgBoss as PgBoss12 } from 'pg-boss-12';

/**
 * The pg-boss majors the bench compares: 10 (CommonJS, the npm package `pg-boss`, run on this
 * machine's Node) and 12 (ESM, Node >= 22.12, the alias `pg-boss-12`, run on Node 24 from the
 * npm package `node`). Loaded only inside the worker processes, so the parent (Node 20) never
 * loads pg-boss 12.
 */
export type PgBossMajor = 10 | 12;

/** `executeSql` over a transaction's connection: pg-boss's `db` option (same shape in 10 and 12). */
export interface PgBossDb {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** A fetched job, as the handler sees it (the fields the bench uses). */
export interface PgBossJob<T> {
  readonly id: string;
  readonly data: T;
}

/** The calls the bench makes, the same for both majors. */
export interface BenchBoss {
  on(event: 'error', listener: (error: Error) => void): void;
  start(): Promise<void>;
  stop(options: { graceful: boolean; timeout?: number }): Promise<void>;
  createQueue(name: string, options: { notify?: boolean }): Promise<void>;
  /** Inserts `jobs` of queue `name` in one statement on `db`. */
  insert(name: string, jobs: readonly object[], db: PgBossDb): Promise<void>;
  send(name: string, data: object, db: PgBossDb): Promise<string | null>;
  work<T>(
    name: string,
    options: Record<string, unknown>,
    handler: (jobs: Array<PgBossJob<T>>) => Promise<void>,
  ): Promise<void>;
}

/** A pg-boss instance of `major` with the constructor `options` (the same names in 10 and 12). */
export async function createBoss(
  major: PgBossMajor,
  options: Record<string, unknown>,
): Promise<BenchBoss> {
  if (major === 10) {
    const { default: PgBoss } = await import('pg-boss');
    const boss: PgBoss10 = new PgBoss(options as PgBoss10.ConstructorOptions);
    return {
      on: (event, listener) => void boss.on(event, listener),
      start: async () => void (await boss.start()),
      stop: (o) => boss.stop(o),
      // pg-boss 10 has no LISTEN/NOTIFY: `notify` does not exist there.
      createQueue: (name) => boss.createQueue(name),
      insert: (name, jobs, db) =>
        boss.insert(
          jobs.map((data) => ({ name, data })),
          { db: db as PgBoss10.Db },
        ),
      send: (name, data, db) => boss.send(name, data, { db: db as PgBoss10.Db }),
      work: async <T>(
        name: string,
        o: Record<string, unknown>,
        handler: (jobs: Array<PgBossJob<T>>) => Promise<void>,
      ) => void (await boss.work<T>(name, o as PgBoss10.WorkOptions, (jobs) => handler(jobs))),
    };
  }
  const { PgBoss } = await import('pg-boss-12');
  const boss: PgBoss12 = new PgBoss(options);
  return {
    on: (event, listener) => void boss.on(event, listener),
    start: async () => void (await boss.start()),
    stop: (o) => boss.stop(o),
    createQueue: (name, o) => boss.createQueue(name, o),
    insert: async (name, jobs, db) =>
      void (await boss.insert(
        name,
        jobs.map((data) => ({ data })),
        { db },
      )),
    send: (name, data, db) => boss.send(name, data, { db }),
    work: async <T>(
      name: string,
      o: Record<string, unknown>,
      handler: (jobs: Array<PgBossJob<T>>) => Promise<void>,
    ) => void (await boss.work<T>(name, o, (jobs) => handler(jobs))),
  };
}
