// Cluster tests measure failure detection and re-homing: running them side by side on a 2-core machine would make
// their timings depend on each other, so they run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
