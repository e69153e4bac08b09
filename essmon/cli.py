"""The ``essmon`` console script: Django's management commands under the project's name."""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["simulate"]:
        # The simulator is a gateway fleet, a client of the service: it must start without
        # the service's settings, database or Django at all.
        from essmon.simulator import main as simulate

        sys.exit(simulate(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["essmon", *sys.argv[1:]])


if __name__ == "__main__":
    main()
