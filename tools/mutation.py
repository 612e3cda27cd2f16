"""Mutation score of src/minituner/lora.py against the lab's contract (run `make mutation` first).

Reads mutmut's results, sets aside the reviewed equivalent mutants (tools/mutation-equivalent.toml),
prints the score and every other survivor with its diff, and exits 1 if there is one.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

EQUIVALENT = Path(__file__).with_name("mutation-equivalent.toml")


def mutmut(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], capture_output=True, text=True).stdout


def main() -> int:
    reviewed = {e["line"]: e["why"] for e in tomllib.loads(EQUIVALENT.read_text())["equivalent"]}
    status = dict(line.strip().rsplit(": ", 1) for line in mutmut("results", "--all", "true").splitlines())
    survivors, equivalent = [], []
    for name in sorted(n for n, s in status.items() if s != "killed"):
        diff = mutmut("show", name)
        lines = diff.splitlines()
        added = [ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
        if status[name] == "survived" and len(added) == 1 and added[0] in reviewed:
            equivalent.append((name, reviewed[added[0]]))
        else:
            survivors.append((name, status[name], diff))
    killed = sum(s == "killed" for s in status.values())
    print(f"{len(status)} mutants of lora.py: {killed} killed, {len(equivalent)} equivalent (reviewed), "
          f"{len(survivors)} other survivors")
    print(f"mutation score: {killed}/{len(status) - len(equivalent)} non-equivalent mutants killed")
    for name, why in equivalent:
        print(f"  equivalent {name}: {why}")
    for name, state, diff in survivors:
        print(f"\n{state}: {name}\n{diff}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
