"""``python -m facegen_utils`` (and the ``facegen`` console script): see :mod:`facegen_utils.cli`."""
from facegen_utils.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
