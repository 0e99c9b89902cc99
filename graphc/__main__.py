"""`python -m graphc ...` is the `graphc` command."""
from .cli import main

raise SystemExit(main())
