import type { Stage } from '../dockerfile/stages.js';
import type { BuildGraph } from './build-plan.js';
import type { StageState } from './stage.js';

// The build's scheduler: each stage runs once, as soon as the stages it depends on are done, so
// independent stages run at the same time (BuildKit's solver runs independent vertices the same
// way). Inside a stage each step stands on the one before; steps of the same key in two stages
// are single-flighted by the stage environment's step locks (stage.ts).

export class StageScheduler {
  readonly results = new Map<number, StageState>();
  readonly #running = new Map<number, Promise<StageState>>();

  constructor(private readonly graph: BuildGraph, private readonly runStage: (stage: Stage) => Promise<StageState>) {}

  /** The stage's result, running it (once) after its dependencies. */
  run(stage: Stage): Promise<StageState> {
    let p = this.#running.get(stage.index);
    if (!p) {
      p = (async () => {
        await Promise.all(this.graph.deps(stage).map((d) => this.run(d)));
        const done = await this.runStage(stage);
        this.results.set(stage.index, done);
        return done;
      })();
      p.catch(() => undefined); // awaited by dependants; this only silences the unawaited copy
      this.#running.set(stage.index, p);
    }
    return p;
  }
}
