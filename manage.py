#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:
        # Ctrl-C, or make demo stopping a child that is still starting: a stop, not an error.
        sys.exit(130)


if __name__ == "__main__":
    main()
