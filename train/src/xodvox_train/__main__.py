"""``python -m xodvox_train`` = the ``xodvox-train`` command."""

from xodvox_train.cli import main

raise SystemExit(main())
