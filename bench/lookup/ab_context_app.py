"""The app with ``contactContext`` reading through ``crm/contacts/bot_context.py`` as it was at
another commit (``BENCH_AB_COMMIT``, default e09bd19: the five pipelined statements), for an A/B
in one run::

    .venv/bin/python bench/lookup/run.py --scenario context --compare-app ab_context_app:create_app

Everything else (the request path, the resolver, the payload) is the current code, so the
difference between the two apps is the read alone. The old module is read with ``git show`` and
its functions replace the resolver module's names (which it looks up on each call).
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def create_app():
    commit = os.environ.get("BENCH_AB_COMMIT", "e09bd19")
    path = "crm/contacts/bot_context.py"
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"bot_context_at_{commit}")
    module.__file__ = f"<{commit}:{path}>"
    sys.modules[module.__name__] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)

    from graphql_schema.app import serve_app
    from graphql_schema.mutations import contact_context

    for name in ("contact_and_context_async", "bot_context_async", "bot_context"):
        setattr(contact_context, name, getattr(module, name))
    return serve_app()
