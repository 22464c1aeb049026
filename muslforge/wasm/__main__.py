"""`python -m muslforge.wasm prog.wasm [args...]`."""

import sys

from . import main

sys.exit(main())
