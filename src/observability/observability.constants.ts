/** Injection token of the app's prom-client `Registry` (served by `GET /metrics`). */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
