// Tests here change process-wide engine state (the worker pool's thread count, the buffer pool's counters),
// so they run one at a time; the whole assembly takes seconds.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
