"""`python -m pixmap ...` is the `pixmap` command."""
from .cli import main

main()
