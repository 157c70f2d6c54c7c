"""`python -m bot` is the `madoguchi` command."""

from bot.cli import main

raise SystemExit(main())
