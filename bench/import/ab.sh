#!/usr/bin/env bash
# A/B of one CSV import (first import, then re-import of the same file) between two checkouts
# of this repository, on PostgreSQL, alternating A B A B so the machine's drift hits both.
#
#   git worktree add /tmp/base <commit> && make -C /tmp/base venv
#   A=/tmp/base B=. ROUNDS=2 ROWS=200000 bash bench/import/ab.sh
#
# Each import runs bench/import/import_once.py of its own tree into a fresh database
# (ab_import_a / ab_import_b on 127.0.0.1, user postgres) and prints wall and CPU seconds
# with the job's counts (they must be equal on both sides).
set -euo pipefail
A=$(cd "${A:?A=path of the baseline checkout}" && pwd)
B=$(cd "${B:-.}" && pwd)
ROWS=${ROWS:-200000}
ROUNDS=${ROUNDS:-2}
F=${FILE:-/tmp/ab_import_$ROWS.csv}
[ -f "$F" ] || "$B/.venv/bin/python" "$B/bench/import/generate.py" --rows "$ROWS" --out "$F" --seed 1
for round in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    T=$A; [ $side = b ] && T=$B
    DB=ab_import_$side
    URL=postgresql://postgres@127.0.0.1:5432/$DB
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
    (cd /tmp && CRM_DATABASE_URL=$URL "$T/.venv/bin/crm" db upgrade >/dev/null 2>&1)
    ORG=$(cd /tmp && CRM_DATABASE_URL=$URL "$T/.venv/bin/crm" org create "AB $side" 2>/dev/null \
      | grep -oE '[0-9a-f-]{36}' | head -1)
    for label in first again; do
      "$T/.venv/bin/python" "$T/bench/import/import_once.py" --url "$URL" --org "$ORG" \
        --file "$F" --result "/tmp/ab_$side.json" --label $label >/dev/null 2>&1
      python3 - "$round" "$side" "$label" "/tmp/ab_$side.json" <<'PY'
import json, sys
r, side, label, path = sys.argv[1:]
d = json.load(open(path))
counts = {k: v for k, v in d.get("counts", d).items()
          if k in ("rows", "created", "updated", "unchanged", "linked", "rejected")}
print(f"round {r} {side} {label}: wall {d['seconds']:.1f} s cpu {d['cpu_seconds']:.1f} s {counts}")
PY
    done
  done
done
