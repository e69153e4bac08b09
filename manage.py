#!/usr/bin/env python
from essmon.cli import main

if __name__ == "__main__":
    main()
