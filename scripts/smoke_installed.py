"""Smoke test of an INSTALLED fastgen: every benchmark case (so every op family) on one backend.

    python scripts/smoke_installed.py --backend cpu
    python scripts/smoke_installed.py --backend reference --cpu-missing "no C++ compiler"

Run it with the interpreter of the environment under test, from outside the source tree: fastgen
must come from that environment's site-packages (checked), while the cases are read from this
checkout's benchmarks/ (appended to sys.path, so it cannot shadow the installed package). Each
case runs at its smoke size through the public op with ``backend=``: the forward is compared
with the float64 reference, the backward must give finite gradients of the inputs' shapes (some
cases' gradients are too ill-conditioned at these sizes for a tolerance; tests/ checks them on
well-posed inputs). ``--cpu-missing TEXT`` also checks that the cpu
backend is unavailable with TEXT in its reason (an install without a compiler).
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def grads(fn, inputs: dict, names: tuple) -> tuple:
    """d(sum of the differentiable outputs)/d(inputs ``names``)."""
    x, leaves = dict(inputs), []
    for name in names:
        x[name] = inputs[name].detach().requires_grad_()
        leaves.append(x[name])
    outs = [o for o in fn(x) if o.requires_grad]
    return torch.autograd.grad(outs, leaves, [torch.ones_like(o) for o in outs])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=["reference", "cpu"])
    parser.add_argument("--cpu-missing", metavar="TEXT")
    args = parser.parse_args()

    import fastgen
    from fastgen.backend import backend_status

    if os.path.abspath(fastgen.__file__).startswith(CHECKOUT + os.sep):
        print(f"FAILED: fastgen was imported from the checkout ({fastgen.__file__}), not an install")
        return 1
    print(f"fastgen from {os.path.dirname(fastgen.__file__)}")
    cpu_ok, cpu_reason = backend_status("cpu", "cpu")
    if args.cpu_missing is not None and (cpu_ok or args.cpu_missing not in cpu_reason):
        print(f"FAILED: expected the cpu backend unavailable because {args.cpu_missing!r}; "
              f"it is {'available' if cpu_ok else 'unavailable: ' + cpu_reason}")
        return 1

    sys.path.append(CHECKOUT)
    from benchmarks import harness
    from benchmarks.cases import families

    passed, failed, skipped = 0, [], 0
    device = torch.device("cpu")
    for family, cases in families().items():
        for case in cases:
            if args.backend not in harness.implemented_backends(case.op):
                skipped += 1
                continue
            try:
                inputs = case.make_inputs(device, "smoke")
                run = lambda x: case.fastgen(x, backend=args.backend)  # noqa: E731
                problem = harness.mismatch(run(inputs), harness.expected_outputs(case, inputs))
                if problem is None and case.differentiable:
                    bad = [n for n, g in zip(case.differentiable, grads(run, inputs, case.differentiable))
                           if g.shape != inputs[n].shape or not bool(torch.isfinite(g).all())]
                    problem = f"backward: bad gradient of {', '.join(bad)}" if bad else None
            except Exception as exc:  # a smoke test reports every failure, then fails
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                passed += 1
            else:
                failed.append(f"{family}/{case.name}: {problem}")
    for line in failed:
        print("FAILED:", line)
    print(f"smoke ({args.backend}, installed fastgen): {passed} passed, {len(failed)} failed, "
          f"{skipped} skipped (op without a {args.backend} backend)")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
