"""Write environment.yml from requirements.in + requirements.lock: the direct dependencies at their locked pins
(pip resolves the rest from the same lock), so conda users get exactly the versions the lock names."""
import re
from pathlib import Path

lock = {}
for line in Path("requirements.lock").read_text().splitlines():
    m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
    if m:
        lock[m.group(1).lower().replace("_", "-")] = m.group(2)
direct = [re.split(r"[=<>\[ ]", l.strip())[0] for l in Path("requirements.in").read_text().splitlines()
          if l.strip() and not l.startswith("#")]
pins = "\n".join(f"      - {d}=={lock[d.lower().replace('_', '-')]}" for d in direct)
Path("environment.yml").write_text(f"""# Conda users: `conda env create -f environment.yml`, then `pip install --no-deps -e .`
# Written by `make lock` from requirements.in at the pins of requirements.lock; do not edit by hand.
name: resnas
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
{pins}
""")
