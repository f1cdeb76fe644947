/**
 * Metrics across the workers of a cluster: the primary asks each worker for its metrics over the
 * cluster's IPC channel and adds them up with prom-client's aggregation (counters and histograms
 * summed; the database-wide gauges shown once, as each declares). A worker's /metrics asks the
 * primary for those totals, so whichever worker a scrape reaches, it sees the whole cluster.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { Metrics } from './index.js';
import type { MetricsSource } from './http.js';

const COLLECT = 'readerfund:metrics:collect';
const LOCAL = 'readerfund:metrics:local';
const ASK_TOTALS = 'readerfund:metrics:ask-totals';
const TOTALS = 'readerfund:metrics:totals';

/** A worker that does not answer within this is left out of the totals (it may be starting or stuck). */
const WORKER_ANSWER_MS = 2000;

interface Message {
  type?: unknown;
  id?: unknown;
  metrics?: unknown;
  text?: unknown;
  error?: unknown;
}

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null;

/** In a worker: answers the primary's requests with this process's metrics. */
export function answerPrimary(metrics: Metrics): () => void {
  const onMessage = (message: unknown) => {
    if (!isMessage(message) || message.type !== COLLECT) return;
    metrics.json().then(
      (json) => process.send?.({ type: LOCAL, id: message.id, metrics: json }),
      (err: unknown) => process.send?.({ type: LOCAL, id: message.id, error: String(err) }),
    );
  };
  process.on('message', onMessage);
  return () => void process.off('message', onMessage);
}

/** In a worker: the cluster's totals, from the primary. */
export function clusterTotalsSource(): MetricsSource {
  let next = 0;
  return {
    contentType: Registry.PROMETHEUS_CONTENT_TYPE,
    text() {
      const id = `${process.pid}-${next++}`;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          process.off('message', onMessage);
          reject(new Error('the cluster primary did not send the metrics totals in time'));
        }, WORKER_ANSWER_MS * 2);
        const onMessage = (message: unknown) => {
          if (!isMessage(message) || message.type !== TOTALS || message.id !== id) return;
          clearTimeout(timer);
          process.off('message', onMessage);
          if (typeof message.text === 'string') resolve(message.text);
          else reject(new Error(String(message.error ?? 'no metrics')));
        };
        process.on('message', onMessage);
        process.send?.({ type: ASK_TOTALS, id });
      });
    },
  };
}

type MetricsJson = Awaited<ReturnType<Metrics['json']>>;

/** In the primary: adds up the workers' metrics; answers workers that ask for the totals. */
export function createClusterAggregator(workers: () => Worker[]): MetricsSource & { stop(): void } {
  const pending = new Map<string, (metrics: MetricsJson | null) => void>();
  let next = 0;

  const collectFrom = (worker: Worker): Promise<MetricsJson | null> =>
    new Promise((resolve) => {
      const id = `c${next++}`;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(null);
      }, WORKER_ANSWER_MS);
      pending.set(id, (metrics) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(metrics);
      });
      try {
        worker.send({ type: COLLECT, id });
      } catch {
        pending.get(id)?.(null);
      }
    });

  const contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  const text = async (): Promise<string> => {
    const answers = (await Promise.all(workers().map(collectFrom))).filter(
      (m): m is MetricsJson => m !== null,
    );
    const totals = answers.length ? await AggregatorRegistry.aggregate(answers).metrics() : '';
    return (
      `${totals}\n# HELP readerfund_cluster_workers_reporting Worker processes whose metrics these totals include.\n` +
      `# TYPE readerfund_cluster_workers_reporting gauge\nreaderfund_cluster_workers_reporting ${answers.length}\n`
    );
  };

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === LOCAL && typeof message.id === 'string') {
      pending.get(message.id)?.(Array.isArray(message.metrics) ? (message.metrics as MetricsJson) : null);
    } else if (message.type === ASK_TOTALS) {
      const reply = (body: { text: string } | { error: string }) => {
        if (worker.isConnected()) worker.send({ type: TOTALS, id: message.id, ...body });
      };
      text().then(
        (totals) => reply({ text: totals }),
        (err: unknown) => reply({ error: String(err) }),
      );
    }
  };
  cluster.on('message', onMessage);
  return { contentType, text, stop: () => void cluster.off('message', onMessage) };
}
