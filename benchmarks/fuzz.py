"""A long run of the properties in tests/test_generated_programs.py: generated programs
(hypothesmith, around a training loop) and mutants of real training code go through
`check` and `fix --unsafe-fixes` (the library calls the commands make). Every program
must check without an internal error; a fix must give code its parser accepts; a second
fix pass must change nothing. Prints the counts, and the first failures to reproduce.

    python benchmarks/fuzz.py                    # 10,000 programs, 5,000 mutants
    python benchmarks/fuzz.py --programs 200 --mutants 200 --seed 1
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def real_sources() -> list[str]:
    paths = sorted((ROOT / "fixtures").rglob("*.py"))
    return [p.read_text(encoding="utf-8", errors="replace") for p in paths]


def mutate(source: str, rng: random.Random) -> str:
    """One of: delete, duplicate or move a line, swap two names, dedent or indent a line,
    cut the file, insert a call to `.item()` or a stray bracket."""
    lines = source.splitlines(keepends=True) or ["\n"]
    kind = rng.randrange(8)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(j, lines[i])
    elif kind == 2:
        lines.insert(j, lines.pop(i))
    elif kind == 3:
        words = sorted({w for w in source.replace("(", " ").replace(")", " ").replace(".", " ").split() if w.isidentifier()})
        if len(words) >= 2:
            a, b = rng.sample(words, 2)
            lines[i] = lines[i].replace(a, b)
    elif kind == 4:
        lines[i] = lines[i].lstrip(" ")
    elif kind == 5:
        lines[i] = "    " + lines[i]
    elif kind == 6:
        lines = lines[: i + 1]
    else:
        stripped = lines[i].rstrip("\n")
        lines[i] = stripped + rng.choice([".item()", "(", ")", "[0]", " + loss.item()", ":"]) + "\n"
    return "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--mutants", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    import warnings

    from test_generated_programs import TRAINING, check_properties

    warnings.simplefilter("ignore", SyntaxWarning)  # hypothesmith compiles what it generates

    counts: Counter = Counter()
    failures: list[tuple[str, str]] = []

    def run(source: str, kind: str) -> None:
        counts[kind] += 1
        try:
            check_properties(source)
        except AssertionError as error:
            counts[f"{kind} failed"] += 1
            failures.append((str(error)[:300], source))
        except Exception:  # an exception escaping torchlint is a failure too
            counts[f"{kind} crashed"] += 1
            failures.append((traceback.format_exc(limit=3), source))

    started = time.perf_counter()
    if options.programs:
        import hypothesmith
        from hypothesis import HealthCheck, given, settings, strategies as st

        @settings(max_examples=options.programs, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(program=st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node()),
               where=st.sampled_from(["before", "after", "alone"]))
        def generated(program, where):
            run({"before": program + "\n" + TRAINING, "after": TRAINING + "\n" + program, "alone": program}[where],
                "generated")

        generated()
    rng = random.Random(options.seed)
    sources = real_sources()
    for _ in range(options.mutants):
        source = rng.choice(sources)
        for _ in range(rng.randint(1, 3)):
            source = mutate(source, rng)
        run(source, "mutant")
    elapsed = time.perf_counter() - started

    print(f"{elapsed:.0f} s; " + ", ".join(f"{key}: {value}" for key, value in sorted(counts.items())))
    for message, source in failures[:5]:
        print("-" * 60)
        print(message)
        print(source[:2000])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
