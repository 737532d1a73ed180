export { type MetricSources, NodeMetrics } from './node-metrics.ts';
