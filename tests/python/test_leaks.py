"""No memory leak over 1000 create/use/destroy cycles of every kind of
object (resident set size, after a warm-up, bounded)."""
import gc

import numpy as np

import pathflow as pf


def rss_kib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource
    return pages * resource.getpagesize() // 1024


def cycle(i):
    target = pf.Target.custom(2, lambda x: 0.5 * (x ** 2).sum(axis=1), lambda x: x.copy())
    mgm = pf.Target.mgm(2)
    lattice = pf.Target.phi4(16, 16, 0.3, 0.02)
    lattice.force(np.zeros((32, 256)))
    wide = pf.Target.custom(256, lambda x: x.sum(axis=1))  # 512 names, a summary scratch
    wide.summaries(np.zeros((32, 256)), np.zeros(32))
    flow = pf.Flow.realnvp(2, layers=2, hidden=[16], seed=i)
    est = pf.Estimator(flow, target, "reverse", "path", 32)
    est.eval(flow.sample_base(32, seed=i))
    tr = pf.Trainer(flow, mgm, batch=16, steps=1, eval_every=1, eval_samples=16, n_holdout=16)
    tr.run(on_step=lambda s, l: None)
    try:
        pf.Target.custom(2, lambda x: 1 / 0).action(np.zeros((1, 2)))
    except pf.CallbackError:
        pass
    _ = flow.params.sum()
    if i % 2:  # closed explicitly, or left to the garbage collector
        tr.close(), est.close(), flow.close(), target.close(), mgm.close(), lattice.close(), wide.close()


def test_no_leak_over_1000_cycles():
    for i in range(100):
        cycle(i)
    gc.collect()
    before = rss_kib()
    for i in range(1000):
        cycle(i)
    gc.collect()
    grown = rss_kib() - before
    # one cycle allocates ~100 KiB in the library (flow, tapes, trainer
    # buffers): a leak of any of them would add ≥ 20 MiB
    assert grown < 4096, f"resident set grew by {grown} KiB over 1000 cycles"
