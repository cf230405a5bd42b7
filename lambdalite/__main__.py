"""`python -m lambdalite` is the same command line as `lambdalite`."""

from lambdalite.cli import main

main()
