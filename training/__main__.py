"""`python -m training` is `tubeless-train`."""
import sys

from .cli import main

sys.exit(main())
