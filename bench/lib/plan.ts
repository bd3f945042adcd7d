/** What a bench run measures and how much: the full plan, or the quick one (`--quick`). */

export interface Plan {
  readonly quick: boolean;
  readonly repeats: number;
  readonly commitMs: number;
  readonly bareEvents: number;
  readonly drainEvents: number;
  readonly latencyMs: number;
  readonly publishMs: number;
  readonly retained: number;
  readonly claimIterations: number;
  /** Dead letters seeded for the admin listing scenario (7a). */
  readonly adminDeadLetters: number;
  readonly adminIterations: number;
  /** The noisy tenant's backlog of scenario 8 (fairness). */
  readonly fairnessNoisyEvents: number;
  /** The quiet tenant's events per second in scenario 8. */
  readonly fairnessQuietRate: number;
  readonly rssEvents: number;
  readonly sweepEvents: number;
  readonly sweepBatchSizes: readonly number[];
  readonly sweepRates: readonly number[];
  readonly sweepRateMs: number;
  /** A peer's drain stops here and reports its partial rate (some peers need many minutes). */
  readonly peerDrainMaxSeconds: number;
  /** After publishing, how long a latency run waits for the last deliveries. */
  readonly latencyMaxWaitMs: number;
  /** Scenario 9a: events relayed per run. */
  readonly relayEvents: number;
  /**
   * Scenario 9b: business transactions per second (one run per rate: well below saturation,
   * and near it), and for how long.
   */
  readonly relayRates: readonly number[];
  readonly relayLatencyMs: number;
  /**
   * Scenario 10: processor instances, publish rates (one run each, stepping up until one is not
   * sustained) and each run's length.
   */
  readonly sustainedInstances: number;
  readonly sustainedRates: readonly number[];
  readonly sustainedMs: number;
}

export const FULL: Plan = {
  quick: false,
  repeats: 3,
  commitMs: 5_000,
  bareEvents: 50_000,
  drainEvents: 50_000,
  latencyMs: 30_000,
  publishMs: 9_000,
  retained: 10_000_000,
  claimIterations: 200,
  adminDeadLetters: 100_000,
  adminIterations: 200,
  fairnessNoisyEvents: 100_000,
  fairnessQuietRate: 20,
  rssEvents: 1_000_000,
  sweepEvents: 20_000,
  sweepBatchSizes: [10, 25, 50, 100, 250, 500],
  sweepRates: [250, 500, 1_000, 2_000, 3_000],
  sweepRateMs: 10_000,
  peerDrainMaxSeconds: 120,
  latencyMaxWaitMs: 30_000,
  relayEvents: 20_000,
  relayRates: [50, 200],
  relayLatencyMs: 20_000,
  sustainedInstances: 4,
  sustainedRates: [500, 750, 1_000, 1_500, 2_000, 3_000, 5_000],
  sustainedMs: 120_000,
};

export const QUICK: Plan = {
  quick: true,
  repeats: 1,
  commitMs: 1_000,
  bareEvents: 10_000,
  drainEvents: 10_000,
  latencyMs: 3_000,
  publishMs: 2_000,
  retained: 100_000,
  claimIterations: 50,
  adminDeadLetters: 100_000,
  adminIterations: 50,
  fairnessNoisyEvents: 100_000,
  fairnessQuietRate: 20,
  rssEvents: 20_000,
  sweepEvents: 5_000,
  sweepBatchSizes: [25, 250],
  sweepRates: [500, 2_000],
  sweepRateMs: 2_000,
  peerDrainMaxSeconds: 15,
  latencyMaxWaitMs: 5_000,
  relayEvents: 5_000,
  relayRates: [50, 200],
  relayLatencyMs: 5_000,
  sustainedInstances: 4,
  sustainedRates: [500, 1_000],
  sustainedMs: 5_000,
};
